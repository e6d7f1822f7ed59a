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
``mva``) share: the watch columns, the watch-row cleaning step and the protocol
(chunked CSV reading and typed column checks are in :mod:`.columns`).
"""

import argparse
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import pandas as pd

from recbole_denoise.data import watch_time

from .columns import number_column, read_csv_log, token_column
from .protocols import watch_protocol
from .writer import (
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
