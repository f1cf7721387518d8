"""Errors a user can act on.

Every error that reaches the CLI from bad input is an :class:`InputError`: a one-line message that
names the file (when there is one), the field and what is allowed. The CLI prints it and exits 2.
"""

from __future__ import annotations


class InputError(ValueError):
    """Bad input from the user (file, field or argument); ``str()`` is a complete one-line message."""

    def __init__(self, message: str, *, source: str | None = None, line: int | None = None,
                 field: str | None = None):
        self.source = source
        self.line = line
        self.field = field
        self.detail = message
        where = ""
        if source:
            where = f"{source}:{line}: " if line else f"{source}: "
        what = f"{field}: " if field else ""
        super().__init__(" ".join(f"{where}{what}{message}".split()))
