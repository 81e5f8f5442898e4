"""Refusals that name a way out through the caller's options: the library words those options
plainly, for a Python caller, and the command line names its flags instead."""

from __future__ import annotations

from collections.abc import Mapping

#: The library's words for the options a refusal names; the command line has a flag for each.
PLAIN_WORDS = {
    "skip": "skip existing outputs",
    "overwrite": "allow overwriting",
    "allow_overwrite": "allow overwriting",
    "ext": "the output format",
    "gt_and_compare": "scoring against ground truth and comparison pictures",
    "task_or_weights": "name a task or give weights",
    "weights": "give weights (a weights file, a hub-layout folder or a hub repository id)",
    "local_weights": "give local weights (a file or a hub-layout folder)",
    "download": "download it",
    "see_registry": "see the task registry",
}


class Refusal(Exception):
    """An error whose message names options by the ``{option}`` fields of ``template`` (keys of
    :data:`PLAIN_WORDS`); ``values`` fill its other fields. ``str()`` is its plain wording."""

    def __init__(self, template: str, **values: object):
        self.template, self.values = template, values
        super().__init__(self.worded(PLAIN_WORDS))

    def worded(self, options: Mapping[str, str]) -> str:
        """The message with ``options`` naming the options."""
        return self.template.format_map({**options, **self.values})

    def __reduce__(self):
        # pickled by its template and values (Ray sends a worker's errors back), not by the plain
        # message, which would be read as a template again
        return _rebuilt, (type(self), self.template, self.values), self.__dict__


def _rebuilt(cls: type[Refusal], template: str, values: dict[str, object]) -> Refusal:
    refusal = cls.__new__(cls)
    Refusal.__init__(refusal, template, **values)
    return refusal


class RefusalText(str):
    """A refusal's plain wording passed on as text (a notice), which keeps the refusal: the command
    line words it with its flags."""

    refusal: Refusal

    def __new__(cls, refusal: Refusal) -> RefusalText:
        text = super().__new__(cls, str(refusal))
        text.refusal = refusal
        return text


def as_text(error: Exception) -> str:
    """``str(error)``; a refusal's as :class:`RefusalText`."""
    return RefusalText(error) if isinstance(error, Refusal) else str(error)
