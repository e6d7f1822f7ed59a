"""The error every converter raises for bad input or an output it cannot write."""

from typing import Any, Optional


class ConversionError(ValueError):
    """A raw file cannot be converted, or the output cannot be written.

    The message names what is known of: the file, the 1-based line number (counting a
    header line if the format has one), the field, and what was expected vs. found.
    The same pieces are kept as attributes for programs.
    """

    def __init__(
        self,
        problem: str,
        *,
        file: Any = None,
        line: Optional[int] = None,
        field: Optional[str] = None,
        expected: Optional[str] = None,
        found: Any = None,
    ):
        self.problem = problem
        self.file = None if file is None else str(file)
        self.line = line
        self.field = field
        self.expected = expected
        self.found = found
        super().__init__(self._compose())

    def _compose(self) -> str:
        where = []
        if self.file is not None:
            where.append(self.file)
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.field is not None:
            where.append(f"field '{self.field}'")
        message = (", ".join(where) + ": " if where else "") + self.problem
        if self.expected is not None:
            message += f"; expected {self.expected}"
            if self.found is not None:
                message += f", found {_short_repr(self.found)}"
        return message


def _short_repr(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
