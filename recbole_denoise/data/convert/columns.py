"""Typed columns of raw logs, shared by every CSV converter: a chunked reader of a
comma-separated log with line numbers (:func:`read_csv_log`), and checks that turn a
chunk of strings into ids, numbers or 0/1 flags, failing with the file, line and field of
the first bad cell (:func:`fail_column`)."""

from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
import pandas as pd

from .reader import header_names, read_delimited
from .writer import ChunkedTable, ConversionError, ConversionSummary


def read_csv_log(
    path: Path,
    summary: Optional[ConversionSummary],
    required: Sequence[str],
    optional: Sequence[str],
    typed: Callable[[pd.DataFrame, np.ndarray], pd.DataFrame],
    *,
    what: str = "log",
) -> pd.DataFrame:
    """A comma-separated file with a header, read block by block and typed chunk by chunk.

    ``required`` columns must be in the header; ``optional`` ones are read when present;
    the others are ignored (listed in the summary stats). Every row must have as many
    fields as the header (:func:`.reader.read_delimited`). ``typed(chunk, lines)`` turns
    a chunk of stripped strings (with the 1-based line number of every row; the header is
    line 1) into typed columns. Blank lines are skipped; every other row counts as read
    when ``summary`` is given (interaction files).
    """
    header_line, header = header_names(path, sep=",", quoted=True)
    missing = [c for c in required if c not in header]
    if missing:
        raise ConversionError("required column missing from the header", file=path, line=header_line,
                              field=missing[0], expected=", ".join(required), found=",".join(header))
    columns = [c for c in header if c in set(required) | set(optional)]
    ignored = [c for c in header if c not in columns]
    if ignored and summary is not None:
        summary.stats[f"{path.name}: columns ignored"] = ", ".join(ignored)
    table = ChunkedTable()
    for chunk, lines in read_delimited(path, header, sep=",", quoted=True, usecols=columns,
                                       skip_lines=header_line, strip=True):
        if summary is not None:
            summary.rows_read += len(chunk)
        table.add(typed(chunk.reset_index(drop=True), lines))
    if not len(table):
        raise ConversionError(f"no rows in the {what}", file=path, expected="comma-separated rows after the header")
    return table.frame()


def fail_column(chunk: pd.DataFrame, column: str, bad: np.ndarray, lines: np.ndarray, path: Path, problem: str,
                expected: str):
    index = int(np.flatnonzero(bad)[0])
    raise ConversionError(problem, file=path, line=int(lines[index]), field=column, expected=expected,
                          found=chunk[column].iloc[index])


def token_column(chunk: pd.DataFrame, column: str, lines: np.ndarray, path: Path, *,
                 missing_ok: bool = False) -> pd.Categorical:
    """Ids as a categorical column; an empty id (unless ``missing_ok``: a missing value)
    or one with a space or a leading double quote is an error.

    The checks run once per distinct id, not once per row (a log repeats its ids)."""
    codes, uniques = pd.factorize(chunk[column].to_numpy(dtype=object))
    ids = pd.Series(uniques, dtype=object)

    def first_row(bad_ids: np.ndarray) -> np.ndarray:
        return np.asarray(bad_ids, dtype=bool)[codes]

    empty = (ids == "").to_numpy()
    if empty.any() and not missing_ok:
        fail_column(chunk, column, first_row(empty), lines, path, "missing id", "a non-empty id")
    bad = ids.str.contains(r"\s", regex=True).to_numpy() | ids.str.startswith('"').to_numpy()
    if bad.any():
        fail_column(chunk, column, first_row(bad), lines, path, "bad id", "an id without spaces")
    if empty.any():  # a missing value: code -1, and the empty id is no category
        codes = np.where(empty[codes], -1, codes - np.cumsum(empty)[codes])
        uniques = uniques[~empty]
    return pd.Categorical.from_codes(codes, categories=pd.Index(uniques, dtype=object))


def number_column(chunk: pd.DataFrame, column: str, lines: np.ndarray, path: Path, *,
                  missing_ok: bool = False) -> np.ndarray:
    """Numbers as float64; an empty cell is NaN when ``missing_ok``, else an error, and
    text that is not a finite number is always an error."""
    values = chunk[column]
    empty = (values == "").to_numpy()
    if empty.any() and not missing_ok:
        fail_column(chunk, column, empty, lines, path, "missing value", "a number")
    numbers = pd.to_numeric(values.mask(empty), errors="coerce").to_numpy(dtype=np.float64)
    bad = ~empty & ~np.isfinite(numbers)
    if bad.any():
        fail_column(chunk, column, bad, lines, path, "bad number", "a finite number")
    return numbers


def flag_column(chunk: pd.DataFrame, column: str, lines: np.ndarray, path: Path) -> np.ndarray:
    """A 0/1 feedback signal as int8 (written as a float field)."""
    values = chunk[column]
    bad = ~values.isin(("0", "1")).to_numpy()
    if bad.any():
        fail_column(chunk, column, bad, lines, path, "bad flag", "0 or 1")
    return (values == "1").to_numpy().astype(np.int8)
