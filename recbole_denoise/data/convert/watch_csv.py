"""Converter for a plain watch-time log: ``user_id,item_id,playing_time_ms,duration_ms``.

Source: the layout in which the AAAI 2025 skip-behaviour authors ship KuaiRand-1K's
random log (repository tkdgur658/DualSkipNet, ``Micro_Video_Datasets/KuaiRand-1K-Rand/
Total_Interactions.csv``), and a convenient lowest common denominator for any
micro-video log.

Raw layout read: comma-separated files with a header line naming at least
``user_id``, ``item_id``, ``playing_time_ms`` and ``duration_ms`` (milliseconds),
optionally ``timestamp`` (any increasing number, e.g. unix seconds, written as is).
Other columns are ignored and listed in the summary. Either

- one log (``--raw``: the file, or a folder holding ``interactions.csv`` or a single
  ``.csv``), which RecBole splits 6:2:2 per user at load; or
- a split the user already has: three files, named by ``--train``, ``--valid`` and
  ``--test`` (file names inside the ``--raw`` folder, or paths), or found as
  ``train.csv``, ``valid.csv`` and ``test.csv`` in the ``--raw`` folder when it holds
  no ``interactions.csv``. The three must have the same columns among the ones read.

Output: ``<name>.inter`` (one log) or ``<name>.train.inter``, ``<name>.valid.inter``,
``<name>.test.inter`` (a split, read by RecBole through ``benchmark_filename: [train,
valid, test]``, which keeps the rows of each file in its split), with ``user_id:token
item_id:token play_time:float duration:float [timestamp:float]``, times in seconds, for
:class:`recbole_denoise.data.watch_time_dataset.WatchTimeDataset`, which derives the
labels at load. The yaml carries the evaluation protocol of both micro-video papers
(see :func:`.protocols.watch_protocol`).

Rows: an id that is empty or holds a space, or a value that is not a number, is an
error naming the file, line and field. Dropped, with a reason in the summary (the
rules of :func:`recbole_denoise.data.watch_time.clean_watch_rows`): rows with a missing,
zero or negative duration, a missing or negative play time, and repeated views of the
same (user, video), of which the longest is kept. The cap on replays
(``max_play_ratio``) is not applied here: it is a dataset setting, applied at load.

A split gets exactly the same cleaning as one log, applied to the three files together
(RecBole applies no filtering of its own to pre-split files): a (user, video) seen in
two files keeps only its longest view, in the file that holds it (ties: the earliest
``timestamp``, then the earlier file in train, valid, test order). This is the rule
:class:`WatchTimeDataset` applies at load too, so loading drops nothing more, and each
user's video is counted once, never both trained on and tested. Ids are tokens shared
by the three files: the same id in two files is the same user or video.

This module also holds the pieces the other watch-time converters (``kuairand``,
``mva``) share: chunked CSV reading with line numbers, typed column checks, the
watch-row cleaning step and the protocol.
"""

import argparse
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import pandas as pd

from recbole_denoise.data import watch_time

from .protocols import watch_protocol
from .reader import header_names, read_delimited
from .writer import (
    ChunkedTable,
    concat_typed,
    ITEM_FIELD,
    USER_FIELD,
    AtomicTable,
    ConversionError,
    ConversionSummary,
    ensure_output_free,
    finish_conversion,
    start_conversion,
)

SOURCE = "watch-csv"
DESCRIPTION = ("plain watch-time log: user_id,item_id,playing_time_ms,duration_ms[,timestamp]; "
               "one file or a train / valid / test split")
DEFAULT_FILE = "interactions.csv"
SPLITS = ("train", "valid", "test")  # RecBole's benchmark_filename order
REQUIRED = ("user_id", "item_id", "playing_time_ms", "duration_ms")
OPTIONAL = ("timestamp",)

PLAY_FIELD, DURATION_FIELD, TIME_FIELD = "play_time", "duration", "timestamp"
MS_PER_SECOND = 1000.0



def add_arguments(parser: argparse.ArgumentParser) -> None:
    for split in SPLITS:
        parser.add_argument(f"--{split}", metavar="FILE",
                            help=f"{split} part of a split you already have (file in --raw, or a path); "
                            f"give all of --train, --valid, --test (default: {split}.csv in --raw when it "
                            f"holds no {DEFAULT_FILE})")


def run(args: argparse.Namespace) -> ConversionSummary:
    return convert(args.raw, args.out, name=args.name, train=args.train, valid=args.valid, test=args.test,
                   overwrite=args.overwrite, quiet=args.quiet)


def convert(raw, out, *, name: Optional[str] = None, train=None, valid=None, test=None, overwrite: bool = False,
            quiet: bool = False) -> ConversionSummary:
    """Convert the watch-time CSV at ``raw`` (the file or its folder), or the split
    ``train`` / ``valid`` / ``test`` (file names in the folder ``raw``, or paths), into ``out``."""
    given = {"train": train, "valid": valid, "test": test}
    options = {split: None if path is None else str(path) for split, path in given.items()}
    summary = start_conversion(SOURCE, raw, out, name=name, overwrite=overwrite, quiet=quiet, options=options)
    split_paths = find_split_csvs(Path(raw), given)
    for path in (split_paths or {}).values():
        ensure_output_free(Path(out), overwrite, raw=path)
    paths = split_paths or {"inter": find_csv(Path(raw), DEFAULT_FILE)}
    parts = {part: read_views(path, summary) for part, path in paths.items()}
    has_time = same_time_column(parts, paths)
    time_field = TIME_FIELD if has_time else None
    types = watch_types(has_time)
    if split_paths is None:  # one log: cleaned as read, no second copy of the table
        tables = [AtomicTable("inter", drop_unusable_views(parts.pop("inter"), summary, time_field=time_field),
                              types)]
    else:
        tables = split_tables(parts, summary, types, time_field)
    return finish_conversion(summary, tables, dataset_config=watch_protocol(has_time), overwrite=overwrite,
                             quiet=quiet)


def split_tables(parts: Dict[str, pd.DataFrame], summary: ConversionSummary, types: Dict[str, str],
                 time_field: Optional[str]) -> List[AtomicTable]:
    """The train / valid / test files cleaned together (one rule across the three), then
    written apart."""
    summary.stats["(user, video) pairs in more than one file"] = pairs_in_several_parts(parts)
    names = list(parts)
    views = concat_typed([parts.pop(part).assign(part=code) for code, part in enumerate(names)])
    views = drop_unusable_views(views, summary, time_field=time_field)
    tables = []
    for code, part in enumerate(names):
        rows = views[views["part"].to_numpy() == code].drop(columns="part").reset_index(drop=True)
        tables.append(AtomicTable(f"{part}.inter", rows, types))
        summary.stats[f"{part} rows"] = len(rows)
    return tables


def read_views(path: Path, summary: ConversionSummary) -> pd.DataFrame:
    """One file of the plain layout, typed (times in seconds, not yet cleaned)."""

    def typed(chunk: pd.DataFrame, lines: np.ndarray) -> pd.DataFrame:
        columns = watch_columns(chunk, lines, path, item="item_id", play="playing_time_ms")
        if "timestamp" in chunk:
            columns[TIME_FIELD] = number_column(chunk, "timestamp", lines, path)
        return pd.DataFrame(columns)

    return read_csv_log(path, summary, REQUIRED, OPTIONAL, typed)


def find_split_csvs(raw: Path, given: Dict[str, Optional[str]]) -> Optional[Dict[str, Path]]:
    """The train / valid / test files, or ``None`` for the one-log form.

    Named files are taken inside the folder ``raw`` (a path that is absolute stays as
    is); all three must be named. Without names, a folder with no ``interactions.csv``
    but with ``train.csv``, ``valid.csv`` and ``test.csv`` is a split."""
    named = {split: value for split, value in given.items() if value is not None}
    if not named:
        if raw.is_dir() and not (raw / DEFAULT_FILE).is_file() and all(
                (raw / f"{split}.csv").is_file() for split in SPLITS):
            return {split: raw / f"{split}.csv" for split in SPLITS}
        return None
    missing = [split for split in SPLITS if split not in named]
    if missing:
        raise ConversionError("a split needs all three files", field=missing[0],
                              expected="--train, --valid and --test together",
                              found=", ".join(f"--{split}" for split in named))
    if not raw.is_dir():
        raise ConversionError("with --train, --valid and --test, --raw is the folder holding them", file=raw,
                              expected="a folder")
    paths = {split: raw / named[split] for split in SPLITS}
    for split, path in paths.items():
        if not path.is_file():
            raise ConversionError(f"{split} file not found", file=path, field=split, expected="an existing file")
    if len({path.resolve() for path in paths.values()}) < len(paths):
        raise ConversionError("the same file is named for two splits", field="train, valid, test",
                              expected="three different files", found=", ".join(map(str, paths.values())))
    return paths


def same_time_column(parts: Dict[str, pd.DataFrame], paths: Dict[str, Path]) -> bool:
    """Whether the files have a timestamp; a split must have it in every file or none."""
    with_time = [part for part, frame in parts.items() if TIME_FIELD in frame]
    if with_time and len(with_time) < len(parts):
        lacking = next(part for part in parts if part not in with_time)
        raise ConversionError("the split files differ in their columns", file=paths[lacking], line=1,
                              field="timestamp", expected=f"a timestamp column, as in {paths[with_time[0]].name}")
    return bool(with_time)


def pairs_in_several_parts(parts: Dict[str, pd.DataFrame]) -> int:
    """Distinct (user, video) pairs that occur in more than one of the files."""
    pairs = [frame[[USER_FIELD, ITEM_FIELD]].astype(str).drop_duplicates() for frame in parts.values()]
    files_per_pair = pd.concat(pairs).value_counts()
    return int((files_per_pair > 1).sum())


# --------------------------------------------------------------------------- shared: output


def watch_types(has_time: bool, extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """Atomic field types of a watch-time interaction file."""
    types = {USER_FIELD: "token", ITEM_FIELD: "token", PLAY_FIELD: "float", DURATION_FIELD: "float"}
    if has_time:
        types[TIME_FIELD] = "float"
    types.update(extra or {})
    return types


def drop_unusable_views(views: pd.DataFrame, summary: ConversionSummary, *,
                        time_field: Optional[str]) -> pd.DataFrame:
    """Apply :func:`watch_time.clean_watch_rows` without the replay cap, counting drops."""
    kept, dropped = watch_time.clean_watch_rows(views, play_field=PLAY_FIELD, duration_field=DURATION_FIELD,
                                                time_field=time_field, max_play_ratio=None)
    for reason, count in dropped.items():
        summary.drop(reason, count)
    full = watch_time.full_watch(watch_time.watch_ratio(kept[PLAY_FIELD], kept[DURATION_FIELD]))
    summary.stats["full watches (play >= duration)"] = f"{int(full.sum())} ({full.mean():.1%})" if len(kept) else 0
    kept.index = pd.RangeIndex(len(kept))  # in place: reset_index would copy the table
    return kept


# --------------------------------------------------------------------------- shared: reading


def find_csv(raw: Path, default_name: str) -> Path:
    """``raw`` itself, ``raw/default_name``, or the single ``.csv`` in the folder ``raw``."""
    if raw.is_file():
        return raw
    if (raw / default_name).is_file():
        return raw / default_name
    found = sorted(raw.glob("*.csv"))
    if len(found) == 1:
        return found[0]
    raise ConversionError("cannot tell which file holds the log", file=raw,
                          expected=f"{default_name} or a single .csv file", found=[p.name for p in found])


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


def _fail(chunk: pd.DataFrame, column: str, bad: np.ndarray, lines: np.ndarray, path: Path, problem: str,
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
        _fail(chunk, column, first_row(empty), lines, path, "missing id", "a non-empty id")
    bad = ids.str.contains(r"\s", regex=True).to_numpy() | ids.str.startswith('"').to_numpy()
    if bad.any():
        _fail(chunk, column, first_row(bad), lines, path, "bad id", "an id without spaces")
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
        _fail(chunk, column, empty, lines, path, "missing value", "a number")
    numbers = pd.to_numeric(values.mask(empty), errors="coerce").to_numpy(dtype=np.float64)
    bad = ~empty & ~np.isfinite(numbers)
    if bad.any():
        _fail(chunk, column, bad, lines, path, "bad number", "a finite number")
    return numbers


def flag_column(chunk: pd.DataFrame, column: str, lines: np.ndarray, path: Path) -> np.ndarray:
    """A 0/1 feedback signal as int8 (written as a float field)."""
    values = chunk[column]
    bad = ~values.isin(("0", "1")).to_numpy()
    if bad.any():
        _fail(chunk, column, bad, lines, path, "bad flag", "0 or 1")
    return (values == "1").to_numpy().astype(np.int8)


def watch_columns(chunk: pd.DataFrame, lines: np.ndarray, path: Path, *, item: str, play: str,
                  play_per_second: float = MS_PER_SECOND, duration: str = "duration_ms") -> Dict[str, object]:
    """The four columns every watch-time log has: ``user_id`` and the ``item`` column as
    tokens, play time (``play``, in units of ``1 / play_per_second`` s) and duration (ms)
    as seconds; missing times stay NaN for :func:`drop_unusable_views` to count."""
    return {USER_FIELD: token_column(chunk, "user_id", lines, path),
            ITEM_FIELD: token_column(chunk, item, lines, path),
            PLAY_FIELD: number_column(chunk, play, lines, path, missing_ok=True) / play_per_second,
            DURATION_FIELD: ms_to_seconds(number_column(chunk, duration, lines, path, missing_ok=True))}


def ms_to_seconds(values: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=np.float64) / MS_PER_SECOND
