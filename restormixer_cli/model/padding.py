"""How the network pads its inputs, readable without loading PyTorch."""

#: Height and width are padded to a multiple of this internally (three stages, each halving).
SIZE_MULTIPLE = 8
