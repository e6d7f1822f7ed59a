"""Converter for the raw Adressa news-reading events, with the ADT dwell-time noise rule.

Source: the Adressa dataset (Gulla et al., "The Adressa Dataset for News
Recommendation", WI 2017), https://reclab.idi.ntnu.no/dataset/ ; used as "Adressa" in
Wang et al., "Denoising Implicit Feedback for Recommendation", WSDM 2021.

Raw layout read: JSON-lines event files, one event per line, typically a folder of
daily files named like ``20170101`` (no extension; gzipped files are read too).
``--raw`` is one such file or their folder (every non-hidden file directly in it, in
name order). Keys used: ``userId`` and ``time`` (unix seconds), both required;
``id`` (article id, absent on non-article pages such as front pages) and
``activeTime`` (dwell seconds, often absent). Other keys are ignored.

Output: ``<name>.inter`` with ``user_id:token item_id:token timestamp:float
dwell_time:float clean:float``, one row per (user, article), in time order.

Noise rule (paper, Section 5): a click with dwell time < 10 s is a false positive;
clean = dwell_time >= ``--min-dwell`` (default 10 seconds).

Rows: an event that is not a JSON object, lacks ``userId`` or ``time``, or has a
non-numeric / negative ``time`` or ``activeTime`` is an error naming the file, line
and field. Dropped, with a reason in the summary:

- events without ``id`` ("no article id"): page views that are not articles;
- repeated clicks of a user on the same article are merged into one interaction:
  the first click's time, the longest dwell among its clicks (the user read the
  article properly at least once, so it is clean if any click reached the threshold);
  the later clicks are counted as "repeated click merged";
- interactions with no ``activeTime`` on any of their clicks: dropped by default
  ("no dwell time"); with ``--missing-dwell false-positive`` they are kept as false
  positives (a page left before any activity was measured) with an empty
  ``dwell_time``. Note that RecBole fills an empty float cell with the column mean,
  so use ``clean``, not ``dwell_time``, as the label;
- with ``--min-interactions K`` (default 0 = none): rows outside the K-core.
"""

import argparse
from array import array
from pathlib import Path
from typing import List, Optional

import numpy as np
import pandas as pd

from .protocols import adt_protocol_for
from .writer import (
    CLEAN_FIELD,
    ITEM_FIELD,
    USER_FIELD,
    AtomicTable,
    ConversionError,
    ConversionSummary,
    TokenColumn,
    clean_flags,
    filter_k_core,
    finish_conversion,
    iter_json_objects,
    parse_id,
    parse_number,
    require,
    start_conversion,
)

SOURCE = "adressa"
DESCRIPTION = "Adressa raw JSON-lines events (a daily file such as 20170101, or their folder)"
DEFAULT_MIN_DWELL = 10.0  # seconds; paper: dwell time < 10 s is a false positive
MISSING_DWELL_POLICIES = ("drop", "false-positive")
NO_ARTICLE_REASON = "no article id"
REPEATED_CLICK_REASON = "repeated click merged (first click kept, longest dwell)"
NO_DWELL_REASON = "no dwell time (activeTime) on any click"

# The paper's protocol for Adressa: Recall and NDCG at 3 and 20 (small item space); the
# flag is derived from the dwell time, so it is never a model feature.
PAPER_PROTOCOL = {**adt_protocol_for("adressa"), "ground_truth_fields": ["dwell_time"]}

INTER_TYPES = {USER_FIELD: "token", ITEM_FIELD: "token", "timestamp": "float", "dwell_time": "float",
               CLEAN_FIELD: "float"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--min-dwell", type=float, default=DEFAULT_MIN_DWELL, metavar="SECONDS",
                        help="clean when the dwell time is at least this (default 10, the paper's)")
    parser.add_argument("--missing-dwell", choices=MISSING_DWELL_POLICIES, default="drop",
                        help="clicks without activeTime: drop them (default) or keep them as false positives")
    parser.add_argument("--min-interactions", type=int, default=0, metavar="K",
                        help="keep the K-core: users and articles with >= K interactions (default 0: no filter)")


def run(args: argparse.Namespace) -> ConversionSummary:
    return convert(args.raw, args.out, name=args.name, min_dwell=args.min_dwell,
                   missing_dwell=args.missing_dwell, min_interactions=args.min_interactions,
                   overwrite=args.overwrite, quiet=args.quiet)


def convert(
    raw,
    out,
    *,
    name: Optional[str] = None,
    min_dwell: float = DEFAULT_MIN_DWELL,
    missing_dwell: str = "drop",
    min_interactions: int = 0,
    overwrite: bool = False,
    quiet: bool = False,
) -> ConversionSummary:
    """Convert Adressa event files at ``raw`` (a file or their folder) into ``out``."""
    if missing_dwell not in MISSING_DWELL_POLICIES:
        raise ValueError(f"missing_dwell must be one of {MISSING_DWELL_POLICIES}, not {missing_dwell!r}")
    options = {"min_dwell": min_dwell, "missing_dwell": missing_dwell, "min_interactions": min_interactions}
    summary = start_conversion(SOURCE, raw, out, name=name, overwrite=overwrite, quiet=quiet, options=options)
    files = event_files(Path(raw))
    summary.stats["event files"] = len(files)
    clicks = read_clicks(files, summary)
    interactions = merge_repeated_clicks(clicks, summary)
    interactions = apply_missing_dwell_policy(interactions, missing_dwell, summary)
    interactions = filter_k_core(interactions, min_interactions, summary)
    is_clean = interactions["dwell_time"].fillna(-np.inf) >= min_dwell  # unknown dwell -> false positive
    interactions = interactions.assign(**{CLEAN_FIELD: clean_flags(is_clean)})
    tables = [AtomicTable("inter", interactions, INTER_TYPES)]
    return finish_conversion(summary, tables, dataset_config=PAPER_PROTOCOL, overwrite=overwrite, quiet=quiet)


def event_files(raw: Path) -> List[Path]:
    if raw.is_file():
        return [raw]
    files = sorted(p for p in raw.iterdir() if p.is_file() and not p.name.startswith("."))
    if not files:
        raise ConversionError("no event files in the folder", file=raw, expected="daily files such as 20170101")
    return files


def read_clicks(files: List[Path], summary: ConversionSummary) -> pd.DataFrame:
    """Article clicks in reading order: user_id, item_id, timestamp, dwell_time (NaN if unknown)."""
    users, items = TokenColumn(), TokenColumn()
    times, dwells = array("d"), array("d")
    for path in files:
        for number, event in iter_json_objects(path):
            summary.rows_read += 1
            user = parse_id(require(event, "userId", file=path, line=number), file=path, line=number, field="userId")
            time = parse_number(require(event, "time", file=path, line=number),
                                file=path, line=number, field="time", low=0)
            if event.get("id") in (None, ""):
                summary.drop(NO_ARTICLE_REASON)
                continue
            item = parse_id(event["id"], file=path, line=number, field="id")
            dwell = event.get("activeTime")
            dwell = np.nan if dwell is None else parse_number(dwell, file=path, line=number,
                                                              field="activeTime", low=0)
            users.append(user)
            items.append(item)
            times.append(time)
            dwells.append(dwell)
    return pd.DataFrame({USER_FIELD: users.categorical(), ITEM_FIELD: items.categorical(),
                         "timestamp": np.asarray(times), "dwell_time": np.asarray(dwells)})


def merge_repeated_clicks(clicks: pd.DataFrame, summary: ConversionSummary) -> pd.DataFrame:
    """One row per (user, article): first click time, longest known dwell, in time order."""
    ordered = clicks.sort_values("timestamp", kind="stable")
    # observed=True: the ids are categorical, and only pairs that occur are interactions
    merged = (
        ordered.groupby([USER_FIELD, ITEM_FIELD], sort=False, observed=True)
        .agg(timestamp=("timestamp", "first"), dwell_time=("dwell_time", "max"))
        .reset_index()
    )
    summary.drop(REPEATED_CLICK_REASON, len(clicks) - len(merged))
    return merged


def apply_missing_dwell_policy(interactions: pd.DataFrame, policy: str, summary: ConversionSummary) -> pd.DataFrame:
    unknown = interactions["dwell_time"].isna()
    summary.stats["interactions without dwell time"] = int(unknown.sum())
    if policy == "drop":
        summary.drop(NO_DWELL_REASON, int(unknown.sum()))
        return interactions[~unknown.to_numpy()]
    return interactions
