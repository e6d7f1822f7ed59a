"""Converter for a plain feedback log: samples with click / like / dislike marks, for DUMN.

Raw layout read (``--raw``: the file): one delimited text file with a header line
(``--sep``: ``tab``, ``comma`` or one character; default tab for ``.tsv`` / ``.txt``,
comma otherwise; comma-separated fields may be double-quoted). One row per sample (an
impression the model predicts). Flags name the columns:

- ``--user-column``, ``--item-column``, ``--time-column`` (any number: seconds or ms,
  written as is; histories are cut by it);
- ``--label-column``: the sample's target, 0 or 1 on every row;
- ``--click-column``, ``--like-column``, ``--dislike-column`` (each optional): 1 marks the
  kind on the row, 0 marks its absence (click 0 = shown, not clicked: an "unclick"), an
  empty cell means not observed. ``1-NAME`` reads the column NAME inverted (``1-label``:
  the rows whose label is 0), so a like-vs-hate label gives both kinds;
- ``--item-features a,b``: token columns describing the item (brand, category, author),
  which must hold one value per item; they go to ``<name>.item`` and into every history
  element (``history_item_fields``).

Output (the DUMN data contract, see :mod:`recbole_denoise.data.feedback_dataset`):
``<name>.inter`` with ``user_id:token item_id:token timestamp:float label:float
click:float like:float dislike:float`` (a kind without a column is an empty column and
``feedback_fields.<kind>: ~`` in the yaml), ``<name>.item`` with the item features, and
``<name>.yaml`` for ``FeedbackHistoryDataset``: AUC and LogLoss, every sample scored, and
each user's rows split in time order (``--split``, default 0.7,0.1,0.2: the last 20% of
each user's rows are test, the 10% before them validation; RecBole 1.2.1 would leave a
validation share of 0 empty, so it must be positive). Every row is kept: repeated
(user, item) rows are separate impressions.

Errors name the file, the line and the field: a row with a wrong number of fields, an
empty or spaced id, a time that is not a number, a flag other than 0 / 1 (or empty), a
label other than 0 / 1, a column missing from the header, an item feature with two values.

The KuaiRand like-vs-hate sample (``kuairand-likehate-dev/interactions.tsv``: rows the
user liked or hated, ``label`` 1 = liked, 0 = hated), as a like-vs-dislike task (the
paper's Table 7) with the last 20% of each user's rows in time as test::

    python -m recbole_denoise.data.convert feedback-csv \\
        --raw kuairand-likehate-dev/interactions.tsv --out dataset/kuairand-likehate \\
        --user-column user_id --item-column video_id --time-column time_ms \\
        --label-column label --click-column is_click --like-column label --dislike-column 1-label

This module also holds the pieces the other feedback converters (``taobao``,
``kuairand --mode feedback``) share: the ``.inter`` / ``.feedback`` field types, the
0/1/empty mark column and the item-feature table.
"""

import argparse
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from .protocols import FEEDBACK_SPLIT, feedback_protocol
from .reader import header_names, read_delimited
from .columns import fail_column, number_column, token_column
from .writer import (
    ITEM_FIELD,
    USER_FIELD,
    AtomicTable,
    ChunkedTable,
    ConversionError,
    ConversionSummary,
    finish_conversion,
    start_conversion,
)

SOURCE = "feedback-csv"
DESCRIPTION = ("plain feedback log (DUMN): user, item, time, label and click / like / dislike columns named by "
               "flags, optional item features")

TIME_FIELD, LABEL_FIELD = "timestamp", "label"
KIND_FIELD = "kind"  # column of <name>.feedback naming an event's kind
NO_ITEM = "[NO_ITEM]"  # item token of an event whose source logs no item (same as feedback_dataset.NO_ITEM)
MARKED_KINDS = ("click", "like", "dislike")  # kinds an .inter column marks; unclick = click 0
FEEDBACK_INTER_TYPES = {USER_FIELD: "token", ITEM_FIELD: "token", TIME_FIELD: "float", LABEL_FIELD: "float",
                        **{kind: "float" for kind in MARKED_KINDS}}
INVERTED = "1-"  # prefix of a column read inverted
SEPARATORS = {"tab": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}
DEFAULT_HISTORY_LENGTH = 100  # T of the paper


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = ("Your own log needs no code, only these flags. The KuaiRand like-vs-hate sample as a\n"
                     "like-vs-dislike task, the last 20% of each user's rows in time as test:\n\n"
                     "  python -m recbole_denoise.data.convert feedback-csv \\\n"
                     "    --raw kuairand-likehate-dev/interactions.tsv --out dataset/kuairand-likehate \\\n"
                     "    --user-column user_id --item-column video_id --time-column time_ms \\\n"
                     "    --label-column label --click-column is_click --like-column label --dislike-column 1-label")
    parser.add_argument("--sep", help="field separator: tab, comma, semicolon, pipe or one character "
                        "(default: tab for .tsv / .txt, else comma)")
    parser.add_argument("--user-column", default=USER_FIELD, help="column of user ids (default user_id)")
    parser.add_argument("--item-column", default=ITEM_FIELD, help="column of item ids (default item_id)")
    parser.add_argument("--time-column", default=TIME_FIELD, help="column of times, any number (default timestamp)")
    parser.add_argument("--label-column", required=True, help="column of the 0/1 target (1-NAME: inverted)")
    for kind in MARKED_KINDS:
        parser.add_argument(f"--{kind}-column", help=f"column marking a {kind} with 1 (1-NAME: inverted; "
                            "empty cell: not observed); without it the dataset has no " + kind +
                            (" / unclick" if kind == "click" else "") + " events")
    parser.add_argument("--item-features", default="", help="comma-separated token columns describing the item "
                        "(one value per item), e.g. brand,category")
    parser.add_argument("--split", default=",".join(str(s) for s in FEEDBACK_SPLIT),
                        help="train,valid,test shares of each user's rows in time order (default 0.7,0.1,0.2)")
    parser.add_argument("--history-length", type=int, default=DEFAULT_HISTORY_LENGTH,
                        help="T, the length of each history window in the yaml (default 100)")


def run(args: argparse.Namespace) -> ConversionSummary:
    marks = {kind: getattr(args, f"{kind}_column") for kind in MARKED_KINDS}
    return convert(args.raw, args.out, name=args.name, sep=args.sep, user_column=args.user_column,
                   item_column=args.item_column, time_column=args.time_column, label_column=args.label_column,
                   click_column=marks["click"], like_column=marks["like"], dislike_column=marks["dislike"],
                   item_features=[c for c in args.item_features.split(",") if c.strip()],
                   split=parse_split(args.split), history_length=args.history_length, overwrite=args.overwrite,
                   quiet=args.quiet)


def convert(raw, out, *, label_column: str, name: Optional[str] = None, sep: Optional[str] = None,
            user_column: str = USER_FIELD, item_column: str = ITEM_FIELD, time_column: str = TIME_FIELD,
            click_column: Optional[str] = None, like_column: Optional[str] = None,
            dislike_column: Optional[str] = None, item_features: Sequence[str] = (),
            split: Sequence[float] = tuple(FEEDBACK_SPLIT), history_length: int = DEFAULT_HISTORY_LENGTH,
            overwrite: bool = False, quiet: bool = False) -> ConversionSummary:
    """Convert the plain feedback log ``raw`` into ``out`` (columns named as in the module docstring)."""
    marks = {kind: column for kind, column in
             (("click", click_column), ("like", like_column), ("dislike", dislike_column)) if column}
    split = check_split(split)
    check_history_length(history_length)
    options = {"sep": sep, "user_column": user_column, "item_column": item_column, "time_column": time_column,
               "label_column": label_column, **{f"{k}_column": v for k, v in marks.items()},
               "item_features": list(item_features), "split": list(split), "history_length": history_length}
    summary = start_conversion(SOURCE, raw, out, name=name, overwrite=overwrite, quiet=quiet, options=options)
    path = Path(raw)
    if path.is_dir():
        raise ConversionError("--raw must be the log file itself", file=path, expected="a delimited text file")
    sep = separator(sep, path)
    header_line, header = header_names(path, sep=sep, quoted=sep == ",")
    columns = {"user": user_column, "item": item_column, "time": time_column}
    specs = {LABEL_FIELD: parse_mark(label_column, header), **{k: parse_mark(v, header) for k, v in marks.items()}}
    needed = [*columns.values(), *(column for column, _ in specs.values()), *item_features]
    check_header(path, header_line, header, needed, sep)

    def typed(chunk: pd.DataFrame, lines: np.ndarray) -> pd.DataFrame:
        frame = {USER_FIELD: token_column(chunk, user_column, lines, path),
                 ITEM_FIELD: token_column(chunk, item_column, lines, path),
                 TIME_FIELD: number_column(chunk, time_column, lines, path)}
        label_from, label_inverted = specs[LABEL_FIELD]
        frame[LABEL_FIELD] = mark_column(chunk, label_from, lines, path, inverted=label_inverted, missing_ok=False)
        for kind in MARKED_KINDS:
            frame[kind] = (mark_column(chunk, specs[kind][0], lines, path, inverted=specs[kind][1])
                           if kind in specs else np.full(len(chunk), np.nan))
        for feature in item_features:
            frame[feature] = token_column(chunk, feature, lines, path, missing_ok=True)
        frame["line"] = lines
        return pd.DataFrame(frame)

    rows = read_rows(path, summary, header, header_line, sep, sorted(set(needed), key=header.index), typed)
    tables = [AtomicTable("inter", rows, FEEDBACK_INTER_TYPES)]
    if item_features:
        tables.append(item_table(rows, item_features, path))
    summary.stats.update(mark_counts(rows))
    config = feedback_protocol(
        feedback_fields={kind: kind if kind in marks else None for kind in MARKED_KINDS}, feedback_events=None,
        history_item_fields=[ITEM_FIELD, *item_features], split=split, history_length=history_length,
        notes={kind: (f"column {marks[kind]} of {path.name}" if kind in marks else "none: no column given")
               for kind in MARKED_KINDS})
    return finish_conversion(summary, tables, dataset_config=config, overwrite=overwrite, quiet=quiet)


# --------------------------------------------------------------------------- options


def separator(sep: Optional[str], path: Path) -> str:
    if sep is None:
        return "\t" if path.suffix.lower() in (".tsv", ".txt") else ","
    sep = SEPARATORS.get(sep, sep)
    if len(sep) != 1 or sep in "\"\n\r":
        raise ConversionError("bad separator", field="sep", expected=f"one of {', '.join(SEPARATORS)} or one "
                              "character (not a quote or a line break)", found=sep)
    return sep


def parse_mark(spec: str, header: Sequence[str]) -> Tuple[str, bool]:
    """``(column, inverted)`` of ``NAME`` or ``1-NAME`` (a column literally named ``1-NAME`` wins)."""
    if spec.startswith(INVERTED) and spec not in header:
        return spec[len(INVERTED):], True
    return spec, False


def parse_split(text: str) -> List[float]:
    try:
        return [float(share) for share in text.split(",")]
    except ValueError:
        raise ConversionError("bad split", field="split", expected="three numbers train,valid,test such as "
                              "0.7,0.1,0.2", found=text) from None


def check_split(split: Sequence[float]) -> List[float]:
    """Three positive shares: RecBole 1.2.1 keeps a 0 share empty, and an empty validation
    or test set cannot be evaluated."""
    shares = [float(share) for share in split]
    if len(shares) != 3 or not all(np.isfinite(shares)) or min(shares) <= 0:
        raise ConversionError("bad split", field="split", expected="three positive shares train,valid,test "
                              "(RecBole leaves a 0 share empty; an empty validation set selects nothing)",
                              found=",".join(str(s) for s in split))
    return shares


def check_history_length(length: int) -> None:
    if isinstance(length, bool) or not isinstance(length, int) or length < 1:
        raise ConversionError("bad history length", field="history_length", expected="a positive integer (T)",
                              found=length)


def check_header(path: Path, header_line: int, header: Sequence[str], needed: Sequence[str], sep: str) -> None:
    missing = [column for column in needed if column not in header]
    if missing:
        raise ConversionError("column missing from the header", file=path, line=header_line, field=missing[0],
                              expected=f"a header naming {', '.join(dict.fromkeys(needed))}",
                              found=sep.join(header))


# --------------------------------------------------------------------------- reading


def read_rows(path: Path, summary: Optional[ConversionSummary], header: Sequence[str], header_line: int, sep: str,
              usecols: Sequence[str], typed: Callable[[pd.DataFrame, np.ndarray], pd.DataFrame]) -> pd.DataFrame:
    """The rows of a delimited file after its header, typed chunk by chunk (the field count
    of every row checked by :func:`.reader.read_delimited`); counted as read in ``summary``."""
    table = ChunkedTable()
    for chunk, lines in read_delimited(path, header, sep=sep, quoted=sep == ",", usecols=list(usecols),
                                       skip_lines=header_line, strip=True):
        if summary is not None:
            summary.rows_read += len(chunk)
        table.add(typed(chunk.reset_index(drop=True), lines))
    if not len(table):
        raise ConversionError("no rows after the header", file=path, expected="one row per sample")
    return table.frame()


def mark_column(chunk: pd.DataFrame, column: str, lines: np.ndarray, path: Path, *, inverted: bool = False,
                missing_ok: bool = True) -> np.ndarray:
    """A 0/1 mark as float (NaN: empty cell, not observed, when ``missing_ok``); ``inverted``: 1 - value."""
    values = chunk[column]
    empty = (values == "").to_numpy()
    if empty.any() and not missing_ok:
        fail_column(chunk, column, empty, lines, path, "missing flag", "0 or 1")
    bad = ~values.isin(("0", "1", "")).to_numpy()
    if bad.any():
        fail_column(chunk, column, bad, lines, path, "bad flag", "0 or 1" + (" or an empty cell" if missing_ok else ""))
    marks = np.where(empty, np.nan, (values == "1").to_numpy().astype(np.float64))
    return 1.0 - marks if inverted else marks


# --------------------------------------------------------------------------- shared: output


def item_table(rows: pd.DataFrame, features: Sequence[str], path: Path) -> AtomicTable:
    """``<name>.item`` from feature columns of the sample rows: one value per item, else an
    error naming the first row that disagrees with an earlier one. Drops the columns from ``rows``."""
    items = rows[[ITEM_FIELD, *features, "line"]]
    first = items.drop_duplicates(ITEM_FIELD)
    for feature in features:
        pairs = items.drop_duplicates([ITEM_FIELD, feature])
        clash = pairs[pairs[ITEM_FIELD].duplicated()]
        if len(clash):
            row = clash.iloc[0]
            earlier = first.loc[first[ITEM_FIELD] == row[ITEM_FIELD]].iloc[0]
            raise ConversionError("item feature differs between rows of the same item", file=path,
                                  line=int(row["line"]), field=feature,
                                  expected=f"{earlier[feature]!r} as on line {int(earlier['line'])} "
                                  f"(item {row[ITEM_FIELD]})", found=row[feature])
    rows.drop(columns=[*features, "line"], inplace=True)
    return AtomicTable("item", first.drop(columns="line").reset_index(drop=True),
                       {ITEM_FIELD: "token", **{feature: "token" for feature in features}})


def mark_counts(rows: pd.DataFrame) -> Dict[str, object]:
    """Summary lines: how many rows carry each kind (and the label's positive share, once there is one)."""
    stats: Dict[str, object] = {}
    if LABEL_FIELD in rows:
        stats["label 1 share"] = round(float(rows[LABEL_FIELD].mean()), 4)
    for kind in MARKED_KINDS:
        values = rows[kind].to_numpy()
        if kind == "click":
            stats["click / unclick rows"] = f"{int((values == 1).sum())} / {int((values == 0).sum())}"
        else:
            stats[f"{kind} rows"] = int((values == 1).sum())
    return stats


def events_types(features: Sequence[str]) -> Dict[str, str]:
    """Field types of ``<name>.feedback``: user, time, kind, item, then item features."""
    return {USER_FIELD: "token", TIME_FIELD: "float", KIND_FIELD: "token", ITEM_FIELD: "token",
            **{feature: "token" for feature in features}}
