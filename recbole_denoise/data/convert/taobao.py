"""Converter for Alibaba's Taobao Ad Display/Click data, as feedback samples for DUMN.

Source: "Ad Display/Click Data on Taobao.com" (Tianchi dataset 56; used by DIN, DIEN,
DSIN, DMR and by DUMN, Bian et al., RecSys 2021, as "Alibaba"). Four comma-separated
files with a header, in the ``--raw`` folder:

- ``raw_sample.csv``: user, time_stamp, adgroup_id, pid, nonclk, clk (about 26M
  impressions of 8 days, 1.14M users, 847k ad groups);
- ``ad_feature.csv``: adgroup_id, cate_id, campaign_id, customer, brand, price (brand
  may be ``NULL``: written as an empty cell);
- ``user_profile.csv`` (optional): userid, cms_segid, cms_group_id, final_gender_code,
  age_level, pvalue_level, shopping_level, occupation, new_user_class_level (the header
  spells it with a trailing space; names are stripped);
- ``behavior_log.csv`` (optional, about 700M rows / 23 GB): user, time_stamp, btag
  (pv, cart, fav, buy), cate, brand: no ad id.

Output (the DUMN data contract, see :mod:`recbole_denoise.data.feedback_dataset`):

- samples: every raw_sample row (no row is dropped; a repeated impression is another
  sample), ``label`` = ``click`` = clk (clk 0 = shown, not clicked: an unclick; clk and
  nonclk must add up to 1), ``timestamp`` = time_stamp (unix seconds), ``like`` and
  ``dislike`` empty (an impression carries neither), ``pid`` (the ad slot, a token
  written in the file but not loaded: add it to ``load_col`` to use it). Written as
  ``<name>.train.inter`` / ``.valid.inter`` / ``.test.inter`` (``benchmark_filename``):
  test = time_stamp >= ``--test-from`` (default 1494633600 = 2017-05-13 00:00 UTC, the
  cut of the public DSIN / DIN preparations, ``2_gen_dsin_input.py``; the dataset's
  days are Beijing days, UTC+8, so that cut is 08:00 Beijing and leaves the first 8
  hours of 2017-05-13 in the earlier part; ``--test-from 1494604800`` cuts at Beijing
  midnight instead), validation = the ``--valid-days`` days (default 1, 2017-05-12)
  before it, train = the rest. The paper trains on all days before the test day and
  names no validation set; RecBole needs one to select a checkpoint, so the day before
  the test is held out (``--valid-days`` moves the cut);
- ``<name>.item``: ad_feature rows of the ads in the samples (adgroup_id as item_id;
  cate_id, campaign_id, customer, brand tokens; price float); ``<name>.user``: the
  user_profile rows of the sample users (tokens). A repeated id is an error;
- ``<name>.feedback``: history events from behavior_log of the users of raw_sample only
  (the others are counted and skipped as the file streams by). cart, fav and buy are
  ``like`` events; the log has no ad id, so an event's item_id is the placeholder
  ``[NO_ITEM]`` and it carries its own cate (as ``cate_id``) and brand. ``pv`` (a page
  view) is not a like. The paper's click history on Taobao is the ad clicks, which the
  dataset class takes from the samples' ``click`` column, so ``--pv drop`` (default)
  skips page views; ``--pv click`` writes them as ``click`` events too (the history of
  the public DSIN / DIN preparations), about 660M events: tens of GB, not the few GB of
  the default;
- dislike: Taobao has no public explicit negative feedback. The ``dislike`` column is
  empty, ``feedback_fields.dislike`` is ``~`` and the dislike history stays empty.

Memory: raw_sample is held in typed columns (30 bytes a row; with the split copies and
the writer's chunks about 90 bytes a row, about 2.5 GB for 26M rows); behavior_log is
streamed in 4 MB blocks through the shared reader (progress bar on stderr unless
``--quiet``), and only its kept events are held, about 20 bytes each (cart / fav / buy
are a few percent of the log). Speed: see ``--help`` (:data:`SPEED_NOTE`).

Errors name the file, the line and the field: a row with a wrong number of fields, an
empty or spaced id, a time that is not a number, clk / nonclk other than 0 / 1 or not
adding up to 1, a btag outside pv / cart / fav / buy, a required column missing from a
header.
"""

import argparse
import textwrap
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import pandas as pd

from .columns import fail_column, flag_column, number_column, read_csv_log, token_column
from .feedback_csv import (
    DEFAULT_HISTORY_LENGTH,
    FEEDBACK_INTER_TYPES,
    KIND_FIELD,
    LABEL_FIELD,
    NO_ITEM,
    TIME_FIELD,
    check_history_length,
    events_types,
    mark_counts,
)
from .protocols import feedback_protocol
from .reader import header_names, read_delimited
from .writer import (
    ITEM_FIELD,
    USER_FIELD,
    AtomicTable,
    ChunkedTable,
    ConversionError,
    ConversionSummary,
    features_of,
    finish_conversion,
    start_conversion,
)

SOURCE = "taobao"
DESCRIPTION = ("Taobao Ad Display/Click (raw_sample, ad_feature, user_profile, behavior_log) as DUMN feedback "
               "samples; no public dislike")
# Measured by benchmarks/taobao_convert_speed.py (rerun it and update this note when the reading path changes).
SPEED_NOTE = ("Speed (benchmarks/taobao_convert_speed.py, generated files in the real layout; the conversion "
              "uses one core): behaviour logs of 2M and 6M rows (61 / 182 MB) streamed at 0.32M and 0.28M rows "
              "per CPU second, 1M samples converted at 0.09M per CPU second. Extrapolated linearly, the full "
              "700M-row log takes about 40 minutes and raw_sample's 26M samples about 5 more on an idle core (on "
              "the project's shared 2-core machine the wall time was 2-3 times the CPU time). Peak memory: 0.6 GB "
              "for 1M samples and 6M log rows, growing about 90 bytes a sample (about 2.3 GB more for 26M) and "
              "about 20 bytes a kept like event (cart / fav / buy: a few percent of the log).")

SAMPLE_FILE, AD_FILE, USER_FILE, BEHAVIOR_FILE = "raw_sample.csv", "ad_feature.csv", "user_profile.csv", \
    "behavior_log.csv"
TEST_FROM = 1494633600  # 2017-05-13 00:00 UTC: the public preparations' test cut (module docstring)
DAY_SECONDS = 86400
BTAGS = ("pv", "cart", "fav", "buy")
LIKE_BTAGS = ("cart", "fav", "buy")
PV_CHOICES = ("drop", "click")
NULL = "NULL"  # ad_feature / behavior_log spell a missing brand so
HISTORY_FEATURES = ("cate_id", "brand")  # what a history element carries besides the item id
SPLITS = ("train", "valid", "test")

SAMPLE_REQUIRED = ("user", "time_stamp", "adgroup_id", "pid", "nonclk", "clk")
AD_TOKENS = ("cate_id", "campaign_id", "customer", "brand")
USER_TOKENS = ("cms_segid", "cms_group_id", "final_gender_code", "age_level", "pvalue_level", "shopping_level",
               "occupation", "new_user_class_level")
BEHAVIOR_COLUMNS = ("user", "time_stamp", "btag", "cate", "brand")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = "\n\n".join(textwrap.fill(text, 100) for text in (
        "Taobao has no public dislike: the dislike column is empty, feedback_fields.dislike is ~ and DUMN runs "
        "with an empty dislike history.", SPEED_NOTE))
    parser.add_argument("--test-from", type=float, default=TEST_FROM,
                        help="unix second where the test part starts (default 1494633600 = 2017-05-13 00:00 UTC, "
                        "the DSIN / DIN cut; 1494604800 = Beijing midnight)")
    parser.add_argument("--valid-days", type=int, default=1,
                        help="days before --test-from held out for validation (default 1)")
    parser.add_argument("--pv", choices=PV_CHOICES, default="drop",
                        help="behaviour-log page views: drop (default; the click history is the ad clicks) or "
                        "write them as click events (the DSIN / DIN history; tens of GB at full scale)")
    parser.add_argument("--history-length", type=int, default=DEFAULT_HISTORY_LENGTH,
                        help="T, the length of each history window in the yaml (default 100)")


def run(args: argparse.Namespace) -> ConversionSummary:
    return convert(args.raw, args.out, name=args.name, test_from=args.test_from, valid_days=args.valid_days,
                   pv=args.pv, history_length=args.history_length, overwrite=args.overwrite, quiet=args.quiet)


def convert(raw, out, *, name: Optional[str] = None, test_from: float = TEST_FROM, valid_days: int = 1,
            pv: str = "drop", history_length: int = DEFAULT_HISTORY_LENGTH, overwrite: bool = False,
            quiet: bool = False) -> ConversionSummary:
    """Convert the Taobao folder ``raw`` into ``out`` (see the module docstring)."""
    check_options(test_from, valid_days, pv)
    check_history_length(history_length)
    summary = start_conversion(SOURCE, raw, out, name=name, overwrite=overwrite, quiet=quiet,
                               options={"test_from": test_from, "valid_days": valid_days, "pv": pv,
                                        "history_length": history_length})
    folder = Path(raw)
    if not folder.is_dir():
        raise ConversionError("--raw must be the folder holding the Taobao files", file=folder,
                              expected=f"a folder with {SAMPLE_FILE} and {AD_FILE}")
    samples = read_samples(required_file(folder, SAMPLE_FILE), summary)
    summary.stats.update(mark_counts(samples))
    valid_from = test_from - valid_days * DAY_SECONDS
    tables = split_tables(samples, valid_from, test_from, summary)
    # the split parts hold the rows now: keep only the distinct ids (features, behaviour-log filter)
    ids = {field: pd.DataFrame({field: samples[field].cat.categories}) for field in (USER_FIELD, ITEM_FIELD)}
    del samples
    tables += feature_tables(folder, ids, summary)
    events = None
    if (folder / BEHAVIOR_FILE).is_file():
        events = read_behavior_events(folder / BEHAVIOR_FILE, pd.Index(ids[USER_FIELD][USER_FIELD]), pv, summary)
    else:
        summary.stats[BEHAVIOR_FILE] = "absent: no like events (the like history stays empty)"
    if events is not None:
        tables.append(AtomicTable("feedback", events, events_types(HISTORY_FEATURES)))
    config = dataset_config(tables, events is not None, valid_from, test_from, pv, history_length)
    return finish_conversion(summary, tables, dataset_config=config, overwrite=overwrite, quiet=quiet)


def check_options(test_from: float, valid_days: int, pv: str) -> None:
    if not np.isfinite(test_from):
        raise ConversionError("bad test start", field="test_from", expected="a unix second", found=test_from)
    if isinstance(valid_days, bool) or not isinstance(valid_days, int) or valid_days < 1:
        raise ConversionError("bad validation days", field="valid_days",
                              expected="a positive number of days (RecBole's pre-split files need a validation "
                              "part)", found=valid_days)
    if pv not in PV_CHOICES:
        raise ConversionError("unknown pv choice", field="pv", expected=" or ".join(PV_CHOICES), found=pv)


def required_file(folder: Path, name: str) -> Path:
    if not (folder / name).is_file():
        raise ConversionError("Taobao file not found", file=folder / name, expected="the file in the --raw folder")
    return folder / name


# --------------------------------------------------------------------------- samples


def read_samples(path: Path, summary: ConversionSummary) -> pd.DataFrame:
    def typed(chunk: pd.DataFrame, lines: np.ndarray) -> pd.DataFrame:
        click = flag_column(chunk, "clk", lines, path)
        no_click = flag_column(chunk, "nonclk", lines, path)
        disagree = click + no_click != 1
        if disagree.any():
            fail_column(chunk, "clk", disagree, lines, path, "clk and nonclk disagree",
                  f"clk + nonclk = 1 (nonclk is {chunk['nonclk'].iloc[int(np.flatnonzero(disagree)[0])]})")
        unobserved = np.full(len(chunk), np.nan, dtype=np.float32)  # small types: 26M rows are held
        return pd.DataFrame({USER_FIELD: token_column(chunk, "user", lines, path),
                             ITEM_FIELD: token_column(chunk, "adgroup_id", lines, path),
                             TIME_FIELD: fast_numbers(chunk, "time_stamp", lines, path),
                             LABEL_FIELD: click, "click": click.copy(), "like": unobserved, "dislike": unobserved.copy(),
                             "pid": token_column(chunk, "pid", lines, path, missing_ok=True)})

    return read_csv_log(path, summary, SAMPLE_REQUIRED, (), typed)


def split_tables(samples: pd.DataFrame, valid_from: float, test_from: float,
                 summary: ConversionSummary) -> List[AtomicTable]:
    """train / valid / test by time (``valid_from <= t < test_from`` is validation)."""
    times = samples[TIME_FIELD].to_numpy()
    part = np.where(times >= test_from, 2, np.where(times >= valid_from, 1, 0))
    types = {**FEEDBACK_INTER_TYPES, "pid": "token"}
    tables = []
    for code, split in enumerate(SPLITS):
        rows = samples[part == code].reset_index(drop=True)
        summary.stats[f"{split} samples"] = len(rows)
        tables.append(AtomicTable(f"{split}.inter", rows, types))
    return tables


# --------------------------------------------------------------------------- features


def feature_tables(folder: Path, ids: Dict[str, pd.DataFrame], summary: ConversionSummary) -> List[AtomicTable]:
    """``.item`` from ad_feature and ``.user`` from user_profile (when present), rows of the sample ids only."""
    ads = required_file(folder, AD_FILE)
    tables = [features_of(read_ads(ads), ITEM_FIELD, ids[ITEM_FIELD], "item", ads, summary,
                          {ITEM_FIELD: "token", **{c: "token" for c in AD_TOKENS}, "price": "float"})]
    users = folder / USER_FILE
    if users.is_file():
        tables.append(features_of(read_users(users), USER_FIELD, ids[USER_FIELD], "user", users, summary,
                                  {USER_FIELD: "token", **{c: "token" for c in USER_TOKENS}}))
    else:
        summary.stats[USER_FILE] = "absent: no user profile features"
    return tables


def brand_column(chunk: pd.DataFrame, column: str, lines: np.ndarray, path: Path) -> pd.Categorical:
    """A token where ``NULL`` (or an empty cell) is a missing value."""
    chunk[column] = chunk[column].mask(chunk[column] == NULL, "")
    return token_column(chunk, column, lines, path, missing_ok=True)


def read_ads(path: Path) -> pd.DataFrame:
    def typed(chunk: pd.DataFrame, lines: np.ndarray) -> pd.DataFrame:
        columns: Dict[str, object] = {ITEM_FIELD: token_column(chunk, "adgroup_id", lines, path)}
        for column in AD_TOKENS:
            columns[column] = (brand_column(chunk, column, lines, path) if column == "brand"
                               else token_column(chunk, column, lines, path, missing_ok=True))
        columns["price"] = number_column(chunk, "price", lines, path, missing_ok=True)
        columns["line"] = lines
        return pd.DataFrame(columns)

    return read_csv_log(path, None, ("adgroup_id", *AD_TOKENS, "price"), (), typed, what="feature file")


def read_users(path: Path) -> pd.DataFrame:
    def typed(chunk: pd.DataFrame, lines: np.ndarray) -> pd.DataFrame:
        columns: Dict[str, object] = {USER_FIELD: token_column(chunk, "userid", lines, path)}
        for column in USER_TOKENS:
            if column in chunk:
                columns[column] = token_column(chunk, column, lines, path, missing_ok=True)
        columns["line"] = lines
        return pd.DataFrame(columns)

    return read_csv_log(path, None, ("userid",), USER_TOKENS, typed, what="feature file")


# --------------------------------------------------------------------------- behaviour log


def read_behavior_events(path: Path, kept_users: pd.Index, pv: str,
                         summary: ConversionSummary) -> Optional[pd.DataFrame]:
    """The kept behaviour-log events (``.feedback`` columns) of ``kept_users`` (the
    distinct sample users), streamed block by block.

    Every row's field count, time and btag are checked; a row whose user is no sample
    user is counted and skipped (its id is not looked at further). Only rows of sample
    users with a kept btag are held, their user as a code into the sample users (no
    per-block recoding of a million ids). The counts go to ``summary.stats`` and must add
    up to the rows read."""
    header_line, header = header_names(path, sep=",", quoted=True)
    missing = [c for c in BEHAVIOR_COLUMNS if c not in header]
    if missing:
        raise ConversionError("required column missing from the header", file=path, line=header_line,
                              field=missing[0], expected=", ".join(BEHAVIOR_COLUMNS), found=",".join(header))
    kind_of_btag = {**{btag: "like" for btag in LIKE_BTAGS}, **({"pv": "click"} if pv == "click" else {})}
    counts = {"read": 0, "kept": 0, "pv": 0, "other users": 0}
    table = ChunkedTable()
    for chunk, lines in read_delimited(path, header, sep=",", quoted=True, usecols=list(BEHAVIOR_COLUMNS),
                                       skip_lines=header_line, strip=True):
        chunk = chunk.reset_index(drop=True)
        events, dropped_pv, other_users = behavior_chunk(chunk, lines, path, kept_users, kind_of_btag)
        counts["read"] += len(chunk)
        counts["pv"] += dropped_pv
        counts["other users"] += other_users
        counts["kept"] += len(events)
        table.add(events)
    if counts["read"] != counts["kept"] + counts["pv"] + counts["other users"]:
        raise RuntimeError(f"behaviour-log bookkeeping bug: {counts}")
    summary.stats[f"{path.name} rows"] = counts["read"]
    summary.stats[f"{path.name} events kept ({', '.join(kind_of_btag)})"] = counts["kept"]
    summary.stats[f"{path.name} pv rows dropped (--pv drop)"] = counts["pv"]
    summary.stats[f"{path.name} rows of users not in {SAMPLE_FILE}"] = counts["other users"]
    if counts["kept"] == 0:
        summary.stats[f"{path.name}"] = "no event kept: no .feedback file, the like history stays empty"
        return None
    events = table.frame()
    events[USER_FIELD] = pd.Categorical.from_codes(events[USER_FIELD].to_numpy(), categories=kept_users)
    events.insert(3, ITEM_FIELD, pd.Categorical.from_codes(np.zeros(len(events), dtype=np.int8), [NO_ITEM]))
    return events


def behavior_chunk(chunk: pd.DataFrame, lines: np.ndarray, path: Path, kept_users: pd.Index,
                   kind_of_btag: Dict[str, str]) -> Tuple[pd.DataFrame, int, int]:
    """``(kept events, pv rows dropped, rows of other users)`` of one block; the user
    column of the events holds codes into ``kept_users``."""
    times = fast_numbers(chunk, "time_stamp", lines, path)
    btag_codes, btags = pd.factorize(chunk["btag"].to_numpy(dtype=object))
    bad_btag = ~np.isin(btags, BTAGS)
    if bad_btag.any():
        fail_column(chunk, "btag", bad_btag[btag_codes], lines, path, "bad btag", " / ".join(BTAGS))
    user_codes, users = pd.factorize(chunk["user"].to_numpy(dtype=object))
    user_in_samples = kept_users.get_indexer(users)[user_codes]  # -1: not a sample user
    of_sample_user = user_in_samples >= 0
    kept_btag = np.isin(btags, tuple(kind_of_btag))[btag_codes]
    dropped_pv = int((of_sample_user & ~kept_btag).sum())  # only pv is ever not kept
    keep = np.flatnonzero(of_sample_user & kept_btag)
    rows, row_lines = chunk.iloc[keep].reset_index(drop=True), lines[keep]
    kinds = sorted(set(kind_of_btag.values()))
    kind_codes = np.array([kinds.index(kind_of_btag[b]) if b in kind_of_btag else -1 for b in btags],
                          dtype=np.int8)
    events = pd.DataFrame({
        USER_FIELD: user_in_samples[keep].astype(np.int32),
        TIME_FIELD: times[keep],
        KIND_FIELD: pd.Categorical.from_codes(kind_codes[btag_codes[keep]], categories=kinds),
        "cate_id": brand_column(rows, "cate", row_lines, path),
        "brand": brand_column(rows, "brand", row_lines, path),
    })
    return events, dropped_pv, int((~of_sample_user).sum())


def fast_numbers(chunk: pd.DataFrame, column: str, lines: np.ndarray, path: Path) -> np.ndarray:
    """:func:`.watch_csv.number_column` without empty cells, by numpy's faster text
    conversion; any doubt (a cell numpy refuses, or not finite) goes to ``number_column``,
    which names the line."""
    try:
        numbers = chunk[column].to_numpy(dtype=object).astype(np.float64)
    except ValueError:
        numbers = None
    if numbers is None or not np.isfinite(numbers).all():
        numbers = number_column(chunk, column, lines, path)
    return numbers


# --------------------------------------------------------------------------- yaml


def dataset_config(tables: List[AtomicTable], has_events: bool, valid_from: float, test_from: float, pv: str,
                   history_length: int) -> Dict[str, object]:
    config = feedback_protocol(
        feedback_fields={"click": "click", "like": "like", "dislike": None},
        feedback_events="feedback" if has_events else None,
        history_item_fields=[ITEM_FIELD, *HISTORY_FEATURES], history_length=history_length,
        notes={"click": "raw_sample clk 1 = click, 0 = unclick (shown, not clicked)",
               "like": "behavior_log cart / fav / buy of the sample users ([NO_ITEM] with their cate and brand)",
               "pv": "behavior_log page views written as click events" if pv == "click" else
               "behavior_log page views dropped (not a like; the click history is the ad clicks)",
               "dislike": "none: Taobao has no public explicit negative feedback; the dislike history is empty",
               "split": f"train time_stamp < {valid_from:.0f}, valid < {test_from:.0f}, test >= {test_from:.0f} "
                        "(unix seconds)"})
    load_col = {"inter": list(FEEDBACK_INTER_TYPES)}  # pid is in the files, not loaded (the contract's columns)
    for table in tables:
        if table.suffix in ("item", "user"):
            load_col[table.suffix] = list(table.types)
    return {"load_col": load_col, **config}
