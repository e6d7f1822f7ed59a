"""The one reading path of the converters: raw bytes in blocks of whole lines, checked as text.

Every text reader (JSON lines, tab- and comma-separated logs, with or without a header)
goes through :func:`iter_blocks`, so every converter fails the same way on the same bad
input:

- a file that is not UTF-8 text (or holds a NUL byte) is an error naming the file, the
  line and the byte offset of the first bad byte;
- a truncated or corrupt gzip file is an error naming the file and the line reached;
- :func:`read_delimited` checks the field count of every row against the header (or the
  given column names) before any value is read, so a row with an extra or a missing field
  is an error naming its line, the expected and the found count, never a shifted row; a
  last line cut short is reported as such.

Memory stays bounded: a file is read :data:`BLOCK_BYTES` at a time and handed on block
by block; a progress bar on stderr follows files of :data:`PROGRESS_MIN_BYTES` or more
(off with ``--quiet``, see :func:`show_progress`).

Lines end at ``\\n`` only (a trailing ``\\r`` is part of the line and stripped by the
readers), so line numbers match ``wc -l`` / ``sed -n``.
"""

import contextlib
import gzip
import io
import os
import sys
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from .errors import ConversionError

BLOCK_BYTES = 4 << 20  # 4 MB of raw text per block: about a hundred thousand log rows
PROGRESS_MIN_BYTES = 64 << 20  # smaller files read in a few seconds: no bar
GZIP_MAGIC = b"\x1f\x8b"

_progress: ContextVar[bool] = ContextVar("recbole_denoise_convert_progress", default=True)
_SEPARATOR_NAMES = {",": "comma", "\t": "tab"}


def show_progress(enabled: bool) -> None:
    """Turn the progress bar of large files on or off (``start_conversion`` sets it from ``quiet``)."""
    _progress.set(bool(enabled))


@dataclass
class Block:
    """Whole lines of a file: ``data`` (checked UTF-8 bytes), the 1-based number of its
    first line and the byte offset of its first byte (in the uncompressed text)."""

    data: bytes
    first_line: int
    offset: int
    last: bool  # the file ends with this block
    ends_with_newline: bool


# --------------------------------------------------------------------------- blocks


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(2) == GZIP_MAGIC


def iter_blocks(path: Path, *, quote: Optional[bytes] = None) -> Iterator[Block]:
    """The file as blocks of whole lines, each checked as UTF-8 text without NUL bytes.

    With ``quote`` (``b'"'``), a line break inside quotes does not end a line, so a block
    never splits a quoted field.
    """
    gzipped = is_gzip(path)
    line, offset, carry = 1, 0, b""
    with open(path, "rb") as raw, _progress_bar(path, raw) as progress:
        source = gzip.GzipFile(fileobj=raw, mode="rb") if gzipped else raw
        while True:
            try:
                chunk = source.read(BLOCK_BYTES)
            except (OSError, EOFError) as error:  # truncated or corrupt gzip
                raise ConversionError(f"cannot read the file ({error})", file=path, line=line) from None
            progress(raw.tell())
            data = carry + chunk
            if not chunk:
                if data:
                    yield _checked(Block(data, line, offset, True, data.endswith(b"\n")), path)
                return
            cut = _last_line_end(data, quote)
            if cut < 0:  # no whole line yet: read on
                carry = data
                continue
            block, carry = data[:cut + 1], data[cut + 1:]
            yield _checked(Block(block, line, offset, False, True), path)
            line += block.count(b"\n")
            offset += len(block)


def _last_line_end(data: bytes, quote: Optional[bytes]) -> int:
    """Index of the last ``\\n`` of ``data`` that is not inside quotes (-1: none)."""
    end = data.rfind(b"\n")
    if quote is None or end < 0 or quote not in data:
        return end
    inside = _inside_quotes(np.frombuffer(data, dtype=np.uint8), quote)
    ends = np.flatnonzero((np.frombuffer(data, dtype=np.uint8) == 10) & ~inside)
    return int(ends[-1]) if len(ends) else -1


def _inside_quotes(array: np.ndarray, quote: bytes) -> np.ndarray:
    """True for bytes inside a quoted field (a doubled quote toggles twice, so it stays inside);
    a running parity of one byte per byte, not a running count."""
    return np.bitwise_xor.accumulate((array == quote[0]).view(np.uint8)).view(bool)


def _checked(block: Block, path: Path) -> Block:
    """The block, once it is known to be UTF-8 text without NUL bytes."""
    bad = block.data.find(b"\x00")
    try:
        block.data.decode("utf-8")
    except UnicodeDecodeError as error:
        bad = error.start if bad < 0 else min(bad, error.start)
    if bad >= 0:
        line = block.first_line + block.data.count(b"\n", 0, bad)
        raise ConversionError(f"cannot decode the file (first bad byte at offset {block.offset + bad})", file=path,
                              line=line, expected="UTF-8 text", found=block.data[bad:bad + 4]) from None
    return block


@contextlib.contextmanager
def _progress_bar(path: Path, raw):
    """A callable ``update(bytes read)``; a bar on stderr for large files when progress is on."""
    size = os.fstat(raw.fileno()).st_size
    if not _progress.get() or size < PROGRESS_MIN_BYTES:
        yield lambda position: None
        return
    from tqdm import tqdm  # RecBole depends on tqdm

    with tqdm(total=size, unit="B", unit_scale=True, desc=f"reading {path.name}", file=sys.stderr,
              leave=False, mininterval=1.0) as bar:
        yield lambda position: bar.update(position - bar.n)


# --------------------------------------------------------------------------- lines


def iter_lines(path: Path) -> Iterator[Tuple[int, str]]:
    """Yield ``(line number, text)`` for every non-blank line, line endings removed."""
    for block in iter_blocks(path):
        for number, text in enumerate(block.data.decode("utf-8").split("\n"), start=block.first_line):
            text = text.rstrip("\r")
            if text.strip():
                yield number, text


def first_line(path: Path) -> Tuple[int, str]:
    """The first non-blank line (the header of a table), or an error for an empty file."""
    for number, text in iter_lines(path):
        return number, text
    raise ConversionError("empty file or missing header line", file=path, line=1, expected="a header line")


# --------------------------------------------------------------------------- delimited tables


def read_delimited(
    path: Path,
    names: Sequence[str],
    *,
    sep: str,
    quoted: bool,
    usecols: Optional[Sequence[str]] = None,
    skip_lines: int = 0,
    strip: bool = False,
) -> Iterator[Tuple[pd.DataFrame, np.ndarray]]:
    """Rows of a delimited file as chunks of strings (columns ``usecols`` of ``names``),
    each with the 1-based line number of every row; blank lines are skipped.

    Every row must have exactly ``len(names)`` fields: a row with more or fewer is an
    error naming its line (see the module docstring). ``skip_lines`` lines (a header)
    are not rows. ``quoted``: fields may be wrapped in double quotes (CSV); otherwise a
    quote is an ordinary character. ``strip``: remove spaces around every value (only
    done for blocks that hold a space, a tab or a ``\\r`` at all: most files hold none).
    """
    quote = b'"' if quoted else None
    for block in iter_blocks(path, quote=quote):
        rows = _Rows(block, sep.encode(), quote)
        rows.drop_lines_up_to(skip_lines)
        rows.drop_blank()
        if rows.count == 0:
            continue
        rows.check_field_count(len(names), path, sep)
        chunk = pd.read_csv(
            io.BytesIO(rows.text()), sep=sep, header=None, names=list(names), usecols=usecols, dtype=str,
            na_filter=False, skip_blank_lines=False, index_col=False, engine="c", encoding="utf-8",
            quoting=0 if quoted else 3,  # 0 = QUOTE_MINIMAL, 3 = QUOTE_NONE
        )
        if len(chunk) != rows.count:  # the field check above makes this unreachable; never write shifted rows
            raise RuntimeError(f"{path}: parsed {len(chunk)} rows of {rows.count} from line {block.first_line}")
        if strip and any(space in block.data for space in (b" ", b"\r", b"\t") if space != sep.encode()):
            chunk = chunk.apply(lambda column: column.str.strip())
        yield chunk, rows.lines


class _Rows:
    """The rows of one block: where each starts and ends, its line number and field count.

    Only arrays of one entry per line or per separator are built (plus byte masks):
    an int64 per byte would cost eight times the block."""

    def __init__(self, block: Block, sep: bytes, quote: Optional[bytes]):
        self.block = block
        self.array = np.frombuffer(block.data, dtype=np.uint8)
        outside = ~_inside_quotes(self.array, quote) if quote is not None and quote in block.data else None
        breaks = self.array == 10
        self.breaks = np.flatnonzero(breaks)  # every line break, quoted or not: line numbers
        ends = self.breaks if outside is None else np.flatnonzero(breaks & outside)
        if not block.ends_with_newline:
            ends = np.append(ends, len(self.array))
        self.starts = np.concatenate(([0], ends[:-1] + 1)).astype(np.int64)
        self.ends = ends.astype(np.int64)
        separators = self.array == sep[0]
        self.separators = np.flatnonzero(separators if outside is None else separators & outside)

    @property
    def count(self) -> int:
        return len(self.starts)

    @property
    def lines(self) -> np.ndarray:
        return self.block.first_line + np.searchsorted(self.breaks, self.starts)

    def _keep(self, keep: np.ndarray) -> None:
        self.starts, self.ends = self.starts[keep], self.ends[keep]

    def drop_lines_up_to(self, line: int) -> None:
        if line >= self.block.first_line:
            self._keep(self.lines > line)

    def drop_blank(self) -> None:
        """Rows of only spaces, tabs and ``\\r`` are blank lines, not rows. Only rows that
        are empty or start with such a byte can be blank; those few are looked at one by one."""
        empty = self.ends == self.starts
        first = self.array[np.minimum(self.starts, len(self.array) - 1)]  # a block is never empty
        maybe = np.flatnonzero(~empty & np.isin(first, np.frombuffer(b" \t\r", dtype=np.uint8)))
        blank = empty.copy()
        for row in maybe:
            blank[row] = not self.block.data[self.starts[row]:self.ends[row]].strip()
        self._keep(~blank)

    def fields(self) -> np.ndarray:
        return np.searchsorted(self.separators, self.ends) - np.searchsorted(self.separators, self.starts) + 1

    def check_field_count(self, expected: int, path: Path, sep: str) -> None:
        found = self.fields()
        bad = np.flatnonzero(found != expected)
        if not len(bad):
            return
        row = int(bad[0])
        text = self.block.data[self.starts[row]:self.ends[row]].decode("utf-8").rstrip("\r")
        cut_short = (self.block.last and row == self.count - 1 and not self.block.ends_with_newline
                     and found[row] < expected)
        problem = "truncated last line (the file ends inside a row)" if cut_short else "wrong number of columns"
        raise ConversionError(
            problem, file=path, line=int(self.lines[row]), field="columns",
            expected=f"{expected} {_SEPARATOR_NAMES.get(sep, repr(sep))}-separated columns",
            found=f"{int(found[row])} columns: {text}",
        )

    def text(self) -> bytes:
        """The bytes of the kept rows (one slice of the block unless blank lines were dropped)."""
        if np.all(self.starts[1:] == self.ends[:-1] + 1):
            return self.block.data[self.starts[0]:self.ends[-1]]
        return b"\n".join(self.block.data[s:e] for s, e in zip(self.starts, self.ends))


def header_names(path: Path, *, sep: str, quoted: bool) -> Tuple[int, List[str]]:
    """(line number, column names) of the header line of a delimited file."""
    number, text = first_line(path)
    frame = pd.read_csv(io.StringIO(text), sep=sep, nrows=0, quoting=0 if quoted else 3, index_col=False)
    return number, [str(name).strip() for name in frame.columns]
