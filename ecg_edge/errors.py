"""One exception type for a user's mistake, so the CLI can print one line instead of a traceback."""

from __future__ import annotations


class EcgEdgeError(Exception):
    """A problem the user can fix: bad input file, field, value or missing tool.

    The message must name the file, field or value and say what was expected.
    """


class DataError(EcgEdgeError):
    """A record, header, label file or prepared dataset is missing, malformed or inconsistent."""


class ModelFormatError(EcgEdgeError):
    """A model.bin (or checkpoint) fails validation.

    `rule`: for a refusal of export/FORMAT.md section 10, its stable id (ecg_edge.modelbin.rules,
    the same name the C loader reports); `index`: the section table entry, tensor or op it
    concerns (None for a header, META or whole-file rule)."""

    def __init__(self, message: str, rule: str | None = None, index: int | None = None) -> None:
        super().__init__(message)
        self.rule, self.index = rule, index


class ToolchainMissing(EcgEdgeError):
    """An external tool (cross compiler, QEMU, valgrind) is not installed."""


class OutputRefused(EcgEdgeError):
    """An output location would lose data (a foreign folder, an input, a file, a second writer)."""
