"""Where checkpoints come from: the task registry, Hugging Face Hub downloads and the hub cache, and
finding the file a task, hub repository id or local path stands for.

Reading a checkpoint is RestorMixer's (:mod:`restormixer_cli.model.checkpoint`): nothing here imports
the model or PyTorch."""
