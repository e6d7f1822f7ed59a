"""The one writer of RecBole atomic files, and the error and summary types of the converters.

Every converter in :mod:`recbole_denoise.data.convert` reads one raw source into pandas
frames and hands them to :func:`write_atomic_dataset`, which owns the output layout::

    <out>/<name>.inter                     one interaction file, or pre-split files
    <out>/<name>.train.inter ...           read through ``benchmark_filename: [train, valid, test]``
    <out>/<name>.user, <name>.item         when a source has them
    <out>/<name>.yaml                      RecBole dataset config (load_col, benchmark_filename,
                                           clean_field, the paper's metrics), loaded by the
                                           package's Config when present
    <out>/conversion.json                  the conversion summary
    <out>/<name>.<modality>.npy ...        extra files staged with the dataset (:class:`ExtraFile`):
                                           item feature matrices and their token lists

RecBole finds a dataset at ``<data_path>/<dataset>/<dataset>.inter``, so the output
folder's name must be the dataset name.

Atomic file format, as read by RecBole 1.2.1 (``Dataset._load_feat``): tab-separated,
one header line of ``name:type`` with type ``token``, ``float``, ``token_seq`` or
``float_seq``; sequence values are space-separated; an empty cell is a missing value.
RecBole reads the files with pandas' python engine, so a value must not contain a tab
or a line break, and must not start with a double quote; the writer refuses such values.

The noise ground truth is always the field ``clean:float`` (1 = clean / true positive,
0 = false positive).

Atomicity: everything is written into a temporary folder next to the output (same
parent, so the final ``rename`` stays on one file system), then renamed into place.
On any exception the temporary folder is removed and an existing output is untouched.
An existing output is replaced only with ``overwrite=True``, and only when it is an
earlier converter output (it holds ``conversion.json``), so that a mistyped ``--out``
cannot delete an unrelated folder.

The module also holds the small helpers every converter shares: numbered line readers
that raise :class:`ConversionError` with file and line, value checks, keeping the latest
review of a user-item pair, and the k-core filter.
"""

import json
import math
import os
import re
import shutil
import uuid
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

from .errors import ConversionError
from .reader import iter_lines, show_progress
from .staging import aside_prefix, check_output_writable, clear_stale_folders, make_staging_folder, unmark

CLEAN_FIELD = "clean"
USER_FIELD = "user_id"
ITEM_FIELD = "item_id"
FIELD_TYPES = ("token", "float", "token_seq", "float_seq")
SUMMARY_FILE = "conversion.json"

_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SPLIT_SUFFIX = re.compile(r"^([A-Za-z0-9_]+)\.inter$")
_FEATURE_SUFFIXES = ("user", "item")
# History events that are not samples (DUMN's ``<name>.feedback``): written like an atomic
# file, read by the dataset class itself, so not listed in ``load_col``.
EVENT_SUFFIXES = ("feedback",)
_EXTRA_FILE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


# --------------------------------------------------------------------------- summary


@dataclass
class ConversionSummary:
    """What a conversion read, kept, dropped (reason -> count) and wrote.

    Invariant checked by the writer: ``rows_read == rows_kept + sum(dropped.values())``,
    where rows are raw records (lines) and kept rows are written interactions.
    """

    source: str
    dataset: str
    raw: str = ""
    out: str = ""
    rows_read: int = 0
    rows_kept: int = 0
    dropped: Dict[str, int] = field(default_factory=dict)
    stats: Dict[str, Any] = field(default_factory=dict)
    options: Dict[str, Any] = field(default_factory=dict)
    files: Dict[str, int] = field(default_factory=dict)

    def drop(self, reason: str, count: int = 1) -> None:
        """Count ``count`` raw rows dropped for ``reason`` (zero counts are not recorded)."""
        if count:
            self.dropped[reason] = self.dropped.get(reason, 0) + int(count)

    @property
    def rows_dropped(self) -> int:
        return sum(self.dropped.values())

    def to_dict(self) -> Dict[str, Any]:
        return {
            "source": self.source,
            "dataset": self.dataset,
            "raw": self.raw,
            "out": self.out,
            "options": self.options,
            "rows_read": self.rows_read,
            "rows_kept": self.rows_kept,
            "rows_dropped": self.rows_dropped,
            "dropped": dict(self.dropped),
            "stats": dict(self.stats),
            "files": dict(self.files),
        }

    def format(self) -> str:
        """One readable block, printed at the end of a conversion."""
        lines = [f"Converted {self.source} -> {self.out} (dataset '{self.dataset}')"]
        lines.append(f"  raw: {self.raw}")
        lines.append(f"  rows read: {self.rows_read:,}, kept: {self.rows_kept:,}, dropped: {self.rows_dropped:,}")
        for reason, count in self.dropped.items():
            lines.append(f"    - {reason}: {count:,}")
        width = max([len(key) for key in self.stats] + [12]) + 1
        for key, value in self.stats.items():
            lines.append(f"  {key + ':':<{width}} {_readable(value)}")
        if self.files:
            lines.append("  files:")
            for name, rows in self.files.items():
                lines.append(f"    {name}" + ("" if rows is None else f" ({rows:,} rows)"))
        return "\n".join(lines)

    __str__ = format


def _readable(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:.4g}"


# --------------------------------------------------------------------------- reading raw files


def iter_json_objects(path: Path) -> Iterator[Tuple[int, dict]]:
    """Yield ``(line number, record)`` for a JSON-lines file; a bad line is an error."""
    for number, text in iter_lines(path):
        try:
            record = json.loads(text)
        except json.JSONDecodeError:
            raise ConversionError(
                "invalid JSON", file=path, line=number,
                expected="one JSON object per line", found=text[:60],
            ) from None
        if not isinstance(record, dict):
            raise ConversionError(
                "not a JSON object", file=path, line=number,
                expected="one JSON object per line", found=text[:60],
            )
        yield number, record


def require(record: Mapping, key: str, *, file: Path, line: int) -> Any:
    """The value of a required key, or an error naming the file, line and key."""
    if key not in record or record[key] is None:
        raise ConversionError(
            "missing required field", file=file, line=line, field=key,
            expected=f"a value for '{key}'", found=None,
        )
    return record[key]


def parse_id(value: Any, *, file: Path, line: int, field: str) -> str:
    """A non-empty id as a string (JSON ints are accepted and written as their digits)."""
    if type(value) is str:  # the common case first: this runs once per raw row
        text = value.strip()
        if text:
            return text
    elif isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise ConversionError("bad id", file=file, line=line, field=field,
                          expected="a non-empty string or integer id", found=value)


def parse_number(
    value: Any,
    *,
    file: Path,
    line: int,
    field: str,
    low: Optional[float] = None,
    high: Optional[float] = None,
) -> float:
    """A finite number (JSON number or numeric text), optionally within ``[low, high]``."""
    number = None
    if not isinstance(value, bool):
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = None
    if (
        number is None
        or not math.isfinite(number)
        or (low is not None and number < low)
        or (high is not None and number > high)
    ):
        if low is not None and high is not None:
            expected = f"a number from {low:g} to {high:g}"
        else:
            expected = "a number" if low is None else f"a number >= {low:g}"
        raise ConversionError("bad number", file=file, line=line, field=field, expected=expected, found=value)
    return number


def parse_int(value: Any, *, file: Path, line: int, field: str) -> int:
    """A non-negative integer written as digits (ids and flags of the authors' layouts)."""
    text = value.strip() if isinstance(value, str) else value
    if isinstance(text, str) and text.isdigit() and text.isascii():
        return int(text)
    if isinstance(text, int) and not isinstance(text, bool) and text >= 0:
        return text
    raise ConversionError("not a non-negative integer", file=file, line=line, field=field,
                          expected="a non-negative integer", found=value)


class TokenColumn:
    """Ids of one field, read row by row and stored as codes into the distinct ids seen.

    Raw files hold millions of rows but far fewer distinct ids; codes keep memory small
    and make de-duplication and counting fast.
    """

    def __init__(self):
        self._codes: Dict[str, int] = {}
        self._rows = array("q")

    def append(self, token: str) -> None:
        code = self._codes.get(token)
        if code is None:
            code = self._codes[token] = len(self._codes)
        self._rows.append(code)

    def categorical(self) -> pd.Categorical:
        return pd.Categorical.from_codes(np.asarray(self._rows), categories=list(self._codes))


# --------------------------------------------------------------------------- shared interaction steps



def concat_typed(chunks: List[pd.DataFrame]) -> pd.DataFrame:
    """Typed chunks joined; categorical columns keep one merged set of categories
    (joining category codes keeps a large token column small in memory)."""
    if len(chunks) == 1:
        return chunks[0]
    joined = {}
    for column in chunks[0].columns:
        if isinstance(chunks[0][column].dtype, pd.CategoricalDtype):
            joined[column] = union_categoricals([chunk[column] for chunk in chunks])
        else:
            joined[column] = np.concatenate([chunk[column].to_numpy() for chunk in chunks])
    return pd.DataFrame(joined)


class ChunkedTable:
    """Typed chunks gathered into one table, holding one copy of the rows.

    Each chunk's categorical columns are recoded at once into categories shared by the
    whole file, so a chunk's own copy of its distinct ids is freed as soon as it is added
    (twenty chunks of a log each repeating most users otherwise hold twenty copies).
    """

    def __init__(self):
        self._columns: Dict[str, List[np.ndarray]] = {}
        self._categories: Dict[str, Dict[Any, int]] = {}

    def add(self, chunk: pd.DataFrame) -> None:
        if self._columns and list(chunk.columns) != list(self._columns):
            raise ValueError(f"chunk columns {list(chunk.columns)} differ from {list(self._columns)}")
        for name in chunk.columns:
            values = chunk[name]
            if isinstance(values.dtype, pd.CategoricalDtype):
                self._categories.setdefault(name, {})
                values = self._recode(name, values.array)
            else:
                values = values.to_numpy()
            self._columns.setdefault(name, []).append(values)

    def _recode(self, name: str, values: pd.Categorical) -> np.ndarray:
        shared = self._categories[name]
        mapping = np.fromiter((self._code(shared, c) for c in values.categories), dtype=np.int32,
                              count=len(values.categories))
        codes = values.codes
        if not len(mapping):  # every value of the chunk missing: nothing to index
            return np.full(len(codes), -1, dtype=np.int32)
        return np.where(codes < 0, -1, mapping[np.maximum(codes, 0)]).astype(np.int32)

    @staticmethod
    def _code(shared: Dict[Any, int], value: Any) -> int:
        """The shared code of ``value``; a new value is kept as a fresh copy, not the chunk's
        own string, which would keep the memory of the chunk's parsed text from being freed."""
        code = shared.get(value)
        if code is None:
            fresh = value.encode("utf-8").decode("utf-8") if isinstance(value, str) else value
            code = shared[fresh] = len(shared)
        return code

    def __len__(self) -> int:
        first = next(iter(self._columns.values()), [])
        return sum(len(part) for part in first)

    def frame(self) -> pd.DataFrame:
        joined = {}
        for name in list(self._columns):
            parts = self._columns.pop(name)  # drop the chunks column by column while joining
            values = np.concatenate(parts) if len(parts) > 1 else parts[0]
            del parts
            if name in self._categories:
                categories = pd.Index(list(self._categories.pop(name)), dtype=object)
                values = pd.Categorical.from_codes(values, categories=categories)
            joined[name] = values
        return pd.DataFrame(joined)


def keep_latest_per_pair(
    frame: pd.DataFrame, summary: ConversionSummary, reason: str, *, time_field: str = "timestamp"
) -> pd.DataFrame:
    """Keep one row per (user, item): the latest by ``time_field``, the later line on ties.

    Review sites let a user review the same item again; the latest review is the user's
    current opinion. ``frame`` must carry a ``line`` column (reading order). Dropped rows
    are counted under ``reason``. The kept rows stay in reading order.
    """
    ordered = frame.sort_values([time_field, "line"], kind="stable")
    kept = ordered.drop_duplicates([USER_FIELD, ITEM_FIELD], keep="last").sort_values("line", kind="stable")
    summary.drop(reason, len(frame) - len(kept))
    return kept


def filter_k_core(frame: pd.DataFrame, k: int, summary: ConversionSummary) -> pd.DataFrame:
    """Drop users and items with fewer than ``k`` interactions until none is left (k-core).

    ``k <= 1`` keeps everything. Dropped rows are counted under one reason.
    """
    if k <= 1:
        return frame
    current = frame
    while True:
        keep = (_count_per_row(current[USER_FIELD]) >= k) & (_count_per_row(current[ITEM_FIELD]) >= k)
        if keep.all():
            break
        current = current[keep]
    summary.drop(f"k-core filter (users and items with < {k} interactions)", len(frame) - len(current))
    return current


def _count_per_row(ids: pd.Series) -> np.ndarray:
    """For every row, how many rows share its id."""
    codes, _ = pd.factorize(ids)
    return np.bincount(codes)[codes]


def clean_flags(keep_clean: Sequence[bool]) -> np.ndarray:
    """Boolean clean decisions as the float values of the ``clean`` field (1.0 / 0.0)."""
    return np.asarray(keep_clean, dtype=bool).astype(np.float64)


# --------------------------------------------------------------------------- tables and layout


@dataclass(frozen=True)
class AtomicTable:
    """One atomic file: ``<name>.<suffix>`` with ``types`` (field -> atomic type, in order)."""

    suffix: str
    frame: pd.DataFrame
    types: Mapping[str, str]

    def __post_init__(self):
        for name, ftype in self.types.items():
            if not _FIELD_NAME.match(name):
                raise ValueError(f"atomic field name {name!r} must be a plain identifier (no ':' or spaces)")
            if ftype not in FIELD_TYPES:
                raise ValueError(f"atomic field {name!r}: type {ftype!r} is not one of {FIELD_TYPES}")
            if name not in self.frame.columns:
                raise ValueError(f"atomic table {self.suffix!r}: the frame has no column {name!r}")
        if not (self.suffix in ("inter",) + _FEATURE_SUFFIXES + EVENT_SUFFIXES or _SPLIT_SUFFIX.match(self.suffix)):
            raise ValueError(f"atomic suffix {self.suffix!r}: expected inter, user, item, feedback or <part>.inter")

    @property
    def is_interaction(self) -> bool:
        return self.suffix.endswith("inter")

    def header(self) -> str:
        return "\t".join(f"{name}:{ftype}" for name, ftype in self.types.items())


DUPLICATE_FEATURE = "listed twice"


def features_of(frame: pd.DataFrame, field: str, views: pd.DataFrame, suffix: str, path: Path,
                summary: ConversionSummary, types: Dict[str, str]) -> AtomicTable:
    """Rows of the ids in the kept log; a repeated id is an error naming its line."""
    repeated = frame[field].duplicated().to_numpy()
    if repeated.any():
        index = int(np.flatnonzero(repeated)[0])
        raise ConversionError(f"id {DUPLICATE_FEATURE}", file=path, line=int(frame["line"].iloc[index]),
                              field=field, expected="one row per id", found=frame[field].iloc[index])
    used = frame[field].isin(set(views[field].astype(str)))
    kept = frame[used.to_numpy()]
    summary.stats[f"{path.name}: rows written / read"] = f"{len(kept)} / {len(frame)}"
    missing = views[field].nunique() - len(kept)
    if missing:
        summary.stats[f"{path.name}: {suffix}s of the log without a row"] = int(missing)
    return AtomicTable(suffix, kept.reset_index(drop=True), {k: v for k, v in types.items() if k in kept})


def _split_parts(tables: Sequence[AtomicTable]) -> List[str]:
    """The benchmark parts (``train`` of ``train.inter`` ...) in the given order."""
    parts = [_SPLIT_SUFFIX.match(t.suffix).group(1) for t in tables if t.suffix != "inter" and t.is_interaction]
    has_single = any(t.suffix == "inter" for t in tables)
    if has_single and parts:
        raise ValueError("a dataset has either one .inter file or pre-split <part>.inter files, not both")
    if not has_single and not parts:
        raise ValueError("a dataset needs an .inter file (or pre-split <part>.inter files)")
    suffixes = [t.suffix for t in tables]
    if len(set(suffixes)) != len(suffixes):
        raise ValueError(f"duplicate atomic suffixes: {suffixes}")
    split_types = {tuple(t.types.items()) for t in tables if t.is_interaction}
    if len(split_types) > 1:
        raise ValueError("pre-split .inter files must have the same fields in the same order")
    return parts


def dataset_config_for(tables: Sequence[AtomicTable], extra: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """RecBole dataset config for ``tables``: load_col, benchmark_filename, clean_field, + ``extra``."""
    parts = _split_parts(tables)
    load_col: Dict[str, List[str]] = {}
    for table in tables:
        if table.suffix in EVENT_SUFFIXES:
            continue
        source = "inter" if table.is_interaction else table.suffix
        load_col[source] = list(table.types)
    config: Dict[str, Any] = {"load_col": load_col}
    if parts:
        config["benchmark_filename"] = parts
    if any(CLEAN_FIELD in t.types for t in tables if t.is_interaction):
        config["clean_field"] = CLEAN_FIELD
    config.update(extra or {})
    return config


# --------------------------------------------------------------------------- value formatting


_CHUNK_ROWS = 500_000  # rows formatted at a time: bounds memory on tens of millions of rows


def _write_table(path: Path, table: AtomicTable) -> int:
    """Write ``table`` a chunk of rows at a time: only one chunk is ever held as text."""
    for name, ftype in table.types.items():
        if ftype == "token":
            _check_text(_distinct_values(table.frame[name]), file=path.name, field=name)
    frame = table.frame
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(table.header() + "\n")
        for start in range(0, len(frame), _CHUNK_ROWS):
            chunk = frame.iloc[start:start + _CHUNK_ROWS]
            rows = None
            for name, ftype in table.types.items():
                cells = _format_column(chunk[name], ftype, file=path.name, field=name)
                rows = cells if rows is None else rows + "\t" + cells  # object arrays: joined in C
            handle.write("\n".join(rows))
            handle.write("\n")
    return len(frame)


def _format_column(series: pd.Series, ftype: str, *, file: str, field: str) -> np.ndarray:
    """The cells of one column as written, an object array of str; missing values become empty cells."""
    if ftype == "token":
        return _token_texts(series)  # checked once per table
    if ftype == "float":
        return _format_floats(series, file=file, field=field).to_numpy(dtype=object)
    to_text = str if ftype == "token_seq" else _float_text
    joined = series.map(lambda seq: _join_sequence(seq, to_text, file=file, field=field))
    _check_text(joined, file=file, field=field)
    return joined.to_numpy(dtype=object)


def _token_texts(series: pd.Series) -> np.ndarray:
    """Token cells: a categorical is written through its categories (one ``str`` per
    distinct id), a missing value as an empty cell."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        texts = np.append(series.cat.categories.astype(str).to_numpy(dtype=object), "")
        return texts[series.cat.codes.to_numpy()]  # code -1 (missing) picks the trailing ""
    values = series.to_numpy(dtype=object)
    missing = pd.isna(values)
    texts = values.astype(str).astype(object)
    texts[missing] = ""
    return texts


def _format_floats(series: pd.Series, *, file: str, field: str) -> pd.Series:
    try:
        values = pd.to_numeric(series, errors="raise").astype(np.float64)
    except (ValueError, TypeError):
        raise ConversionError("non-numeric value in a float field", file=file, field=field,
                              expected="numbers") from None
    known = values.dropna()
    if np.isinf(known.to_numpy()).any():
        raise ConversionError("infinite value in a float field", file=file, field=field,
                              expected="finite numbers")
    return pd.Series(_float_texts(values.to_numpy()), index=series.index)


def _float_texts(values: np.ndarray) -> np.ndarray:
    """Numbers as text, vectorised: whole numbers (ratings, flags, unix seconds) without a
    trailing ".0", others in numpy's shortest round-trip form (as ``repr``), NaN as ""."""
    texts = values.astype(str).astype(object)
    with np.errstate(invalid="ignore"):
        whole = np.isfinite(values) & (values == np.round(values)) & (np.abs(values) < 2**53)
    texts[whole] = values[whole].astype(np.int64).astype(str)
    texts[np.isnan(values)] = ""
    return texts


def _float_text(value: Any) -> str:
    number = float(value)
    return str(int(number)) if number.is_integer() and abs(number) < 2**53 else repr(number)


def _join_sequence(seq: Any, to_text, *, file: str, field: str) -> str:
    if seq is None or (isinstance(seq, float) and np.isnan(seq)):
        return ""
    parts = [to_text(element) for element in seq]
    for part in parts:
        if not part or any(ch.isspace() for ch in part):
            raise ConversionError("bad sequence element", file=file, field=field,
                                  expected="non-empty elements without spaces", found=part)
    return " ".join(parts)


def _distinct_values(series: pd.Series) -> pd.Series:
    if isinstance(series.dtype, pd.CategoricalDtype):
        return pd.Series(series.cat.categories)
    return pd.Series(series.dropna().unique())


def _check_text(values: pd.Series, *, file: str, field: str) -> None:
    """Refuse values that RecBole's reader would split or unquote."""
    text = values.astype(str)
    bad = text.str.contains(r"[\t\r\n]", regex=True) | text.str.startswith('"')
    if bad.any():
        raise ConversionError(
            "value cannot be written to an atomic file", file=file, field=field,
            expected="no tab or line break, and no leading double quote", found=str(text[bad].iloc[0]),
        )


# --------------------------------------------------------------------------- extra files


@dataclass(frozen=True)
class ExtraFile:
    """A file that is not an atomic file but belongs to the dataset (a feature matrix, a token list).

    It is written by ``write(path)`` into the same temporary folder as the atomic files,
    so it appears, or not, together with them. ``rows`` is reported in the summary.
    """

    file_name: str
    write: Callable[[Path], None]
    rows: Optional[int] = None

    def __post_init__(self):
        if not _EXTRA_FILE_NAME.match(self.file_name) or ".." in self.file_name:
            raise ValueError(f"extra file name {self.file_name!r} must be a plain file name (no folders)")


def npy_file(file_name: str, array: np.ndarray) -> ExtraFile:
    """An array saved with ``np.save`` and no pickle (numeric dtypes only)."""
    array = np.asarray(array)
    if array.dtype.hasobject:
        raise ValueError(f"{file_name}: object arrays would need pickle; give a numeric array")

    def write(path: Path) -> None:
        with open(path, "wb") as handle:  # a handle, so that np.save does not append ".npy"
            np.save(handle, array, allow_pickle=False)

    return ExtraFile(file_name, write, rows=int(array.shape[0]) if array.ndim else None)


def lines_file(file_name: str, lines: Iterable[str]) -> ExtraFile:
    """A UTF-8 text file with one value per line (values must not hold a line break)."""
    values = [str(value) for value in lines]
    for number, value in enumerate(values, start=1):
        if "\n" in value or "\r" in value:
            raise ConversionError("value cannot be written on one line", file=file_name, line=number,
                                  expected="no line break", found=value)

    def write(path: Path) -> None:
        with open(path, "w", encoding="utf-8", newline="\n") as handle:
            handle.writelines(value + "\n" for value in values)

    return ExtraFile(file_name, write, rows=len(values))


def _check_extra_files(extra_files: Sequence[ExtraFile], taken: Sequence[str]) -> None:
    names = [extra.file_name for extra in extra_files]
    clashes = sorted(set(names) & set(taken)) + sorted({n for n in names if names.count(n) > 1})
    if clashes:
        raise ValueError(f"extra file names clash with each other or with the dataset files: {clashes}")


# --------------------------------------------------------------------------- output folder


def check_dataset_name(out_dir: Path, name: Optional[str]) -> str:
    """The dataset name: ``name`` or the output folder's name, which must agree."""
    out_dir = Path(out_dir)
    folder = out_dir.resolve().name
    name = name or folder
    if not _FIELD_NAME.match(name.replace("-", "_")):
        raise ConversionError("bad dataset name", field="name",
                              expected="letters, digits, '_' or '-'", found=name)
    if name != folder:
        raise ConversionError(
            f"RecBole reads <data_path>/<dataset>/<dataset>.inter, so the output folder "
            f"'{out_dir}' must be named after the dataset '{name}'",
            field="name", expected=f"--out .../{name}", found=str(out_dir),
        )
    return name


def ensure_output_free(out_dir: Path, overwrite: bool, raw: Optional[Path] = None) -> None:
    """Refuse an existing output unless ``overwrite``; refuse to replace non-converter folders.

    Called before reading (to fail fast) and again before the final rename.
    """
    out_dir = Path(out_dir)
    if raw is not None:
        raw_path, out_path = Path(raw).resolve(), out_dir.resolve()
        if raw_path == out_path or out_path in raw_path.parents:
            raise ConversionError(
                "the raw input lies inside the output folder, which a conversion replaces",
                file=raw, expected="--out outside the raw data", found=str(out_dir),
            )
    if not os.path.lexists(out_dir):
        return
    if not out_dir.is_dir():
        raise ConversionError("the output exists and is not a folder", file=out_dir)
    if not any(out_dir.iterdir()):
        return  # an empty folder made beforehand holds nothing to lose
    if not overwrite:
        raise ConversionError(
            "the output folder exists; pass overwrite=True (--overwrite) to replace it",
            file=out_dir,
        )
    if not (out_dir / SUMMARY_FILE).is_file():
        raise ConversionError(
            f"refusing to replace a folder that is not a converter output (no {SUMMARY_FILE}); "
            "remove it yourself if you mean it",
            file=out_dir,
        )


def _move_into_place(staged: Path, out_dir: Path, overwrite: bool) -> None:
    if not os.path.lexists(out_dir):
        os.rename(staged, out_dir)
        return
    ensure_output_free(out_dir, overwrite)
    aside = out_dir.parent / f"{aside_prefix(out_dir)}{uuid.uuid4().hex[:8]}"
    os.rename(out_dir, aside)
    try:
        os.rename(staged, out_dir)
    except BaseException:
        os.rename(aside, out_dir)
        raise
    shutil.rmtree(aside, ignore_errors=True)


def _interaction_stats(tables: Sequence[AtomicTable]) -> Dict[str, Any]:
    inter = [t.frame for t in tables if t.is_interaction]
    users = pd.concat([f[USER_FIELD] for f in inter if USER_FIELD in f], ignore_index=True)
    items = pd.concat([f[ITEM_FIELD] for f in inter if ITEM_FIELD in f], ignore_index=True)
    stats: Dict[str, Any] = {"users": int(users.nunique()), "items": int(items.nunique())}
    stats["interactions"] = int(sum(len(f) for f in inter))
    if all(CLEAN_FIELD in f for f in inter):
        false_positives = int(sum((f[CLEAN_FIELD] == 0).sum() for f in inter))
        stats["false positives"] = false_positives
        stats["false positive share"] = round(false_positives / max(stats["interactions"], 1), 4)
    return stats


def write_atomic_dataset(
    out_dir: Any,
    tables: Sequence[AtomicTable],
    summary: ConversionSummary,
    *,
    name: Optional[str] = None,
    dataset_config: Optional[Mapping[str, Any]] = None,
    overwrite: bool = False,
    extra_files: Sequence[ExtraFile] = (),
) -> Path:
    """Write ``tables`` as ``<out_dir>/<name>.<suffix>`` + ``<name>.yaml`` + ``conversion.json``.

    ``dataset_config`` adds to (and may override) the derived RecBole config: ``load_col``
    from the tables' fields, ``benchmark_filename`` for pre-split tables, ``clean_field``.
    ``extra_files`` (feature matrices, token lists) are staged in the same temporary
    folder, so they are renamed into place with the atomic files or not at all.
    Fills ``summary`` (rows kept, users, items, false positives, files) and checks that
    every read row is either kept or counted as dropped. Returns the output folder.
    """
    out_dir = Path(out_dir)
    name = check_dataset_name(out_dir, name or summary.dataset)
    config = dataset_config_for(tables, dataset_config)
    for table in tables:
        if len(table.frame) == 0:
            dropped = ", ".join(f"{r}: {c}" for r, c in summary.dropped.items()) or "nothing dropped"
            raise ConversionError(
                f"no rows left for {name}.{table.suffix} after conversion ({dropped})",
                file=summary.raw or None,
            )
    kept = sum(len(t.frame) for t in tables if t.is_interaction)
    if summary.rows_read != kept + summary.rows_dropped:
        raise RuntimeError(
            f"converter bookkeeping bug: read {summary.rows_read} rows, kept {kept}, "
            f"dropped {summary.rows_dropped} ({summary.dropped})"
        )
    summary.rows_kept = kept
    summary.dataset = name
    summary.out = str(out_dir)
    summary.stats = {**_interaction_stats(tables), **summary.stats}
    _check_extra_files(extra_files, [f"{name}.{t.suffix}" for t in tables] + [f"{name}.yaml", SUMMARY_FILE])
    ensure_output_free(out_dir, overwrite)

    staged = make_staging_folder(out_dir)
    try:
        files: Dict[str, Optional[int]] = {}
        for table in tables:
            file_name = f"{name}.{table.suffix}"
            files[file_name] = _write_table(staged / file_name, table)
        for extra in extra_files:
            extra.write(staged / extra.file_name)
            files[extra.file_name] = extra.rows
        _write_yaml(staged / f"{name}.yaml", config, summary.source)
        files[f"{name}.yaml"] = None
        files[SUMMARY_FILE] = None
        summary.files = files
        with open(staged / SUMMARY_FILE, "w", encoding="utf-8") as handle:
            json.dump({"dataset_config": config, **summary.to_dict()}, handle, indent=2, default=str)
            handle.write("\n")
        unmark(staged)
        _move_into_place(staged, out_dir, overwrite)
    except OSError as error:  # a full disk, a folder removed under us: a message, not a traceback
        shutil.rmtree(staged, ignore_errors=True)
        raise ConversionError(f"cannot write the output ({error.strerror or error})",
                              file=error.filename or out_dir) from None
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return out_dir


def _write_yaml(path: Path, config: Mapping[str, Any], source: str) -> None:
    import yaml  # PyYAML comes with RecBole

    with open(path, "w", encoding="utf-8") as handle:
        handle.write(f"# RecBole dataset config written by recbole_denoise.data.convert ({source}).\n")
        if "clean_field" in config:  # the ADT-style datasets; feedback datasets have no clean flag
            handle.write(f"# {config['clean_field']}: 1 = clean (true positive), 0 = false positive.\n")
        yaml.safe_dump(dict(config), handle, sort_keys=False, default_flow_style=None)


# --------------------------------------------------------------------------- start and finish


def start_conversion(
    source: str,
    raw: Any,
    out: Any,
    *,
    name: Optional[str] = None,
    overwrite: bool = False,
    quiet: bool = False,
    options: Optional[Mapping[str, Any]] = None,
) -> ConversionSummary:
    """Check the raw path, the dataset name and the output before any reading starts;
    clear what killed conversions to the same output left (:mod:`.staging`); turn the
    progress bar of large raw files on unless ``quiet``."""
    raw_path = Path(raw)
    if not raw_path.exists():
        raise ConversionError("raw input not found", file=raw_path, expected="an existing file or folder")
    dataset = check_dataset_name(Path(out), name)
    ensure_output_free(Path(out), overwrite, raw=raw_path)
    check_output_writable(Path(out))
    clear_stale_folders(Path(out), quiet=quiet)
    show_progress(not quiet)
    return ConversionSummary(
        source=source, dataset=dataset, raw=str(raw_path), out=str(out), options=dict(options or {})
    )


def finish_conversion(
    summary: ConversionSummary,
    tables: Sequence[AtomicTable],
    *,
    dataset_config: Optional[Mapping[str, Any]] = None,
    overwrite: bool = False,
    quiet: bool = False,
    extra_files: Sequence[ExtraFile] = (),
) -> ConversionSummary:
    """Write the dataset atomically, print the summary block (unless ``quiet``), return it."""
    write_atomic_dataset(
        summary.out, tables, summary, name=summary.dataset, dataset_config=dataset_config, overwrite=overwrite,
        extra_files=extra_files,
    )
    if not quiet:
        print(summary.format())
    return summary
