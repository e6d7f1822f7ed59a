"""Converter for KuaiRand (KuaiRand-Pure, KuaiRand-1K, KuaiRand-27K) logs and features.

Source: Gao et al., "KuaiRand: An Unbiased Sequential Recommendation Dataset with
Randomly Exposed Videos", CIKM 2022 (https://kuairand.com, CC BY-SA 4.0; field
descriptions in the README of github.com/chongminggao/KuaiRand). KuaiRand-Pure's random
log is the "KuaiRand-Pure" of the AAAI 2025 skip-behaviour paper (27,285 users, 7,583
videos, 1,186,059 interactions).

Raw layout read (``--raw``: the release folder, its ``data/`` subfolder, or one log file):

- logs, comma-separated with a header: ``log_random_4_22_to_5_08_<version>.csv`` (random
  exposure) and ``log_standard_4_08_to_4_21_<version>[_partN].csv``,
  ``log_standard_4_22_to_5_08_<version>[_partN].csv`` (standard recommendation);
  ``--log random`` (default, the papers' choice), ``standard`` or ``both``. Columns:
  user_id, video_id, date (YYYYMMDD), hourmin (HHMM), time_ms, is_click, is_like,
  is_follow, is_comment, is_forward, is_hate, long_view, play_time_ms, duration_ms,
  profile_stay_time, comment_stay_time, is_profile_enter, is_rand, tab;
- optional ``user_features_<version>.csv`` and ``video_features_basic_<version>.csv``.

Output (times in seconds):

- ``<name>.inter``: ``user_id``, ``item_id`` (video_id) as tokens; ``timestamp`` (unix
  seconds from time_ms; from date + hourmin, Beijing time, where time_ms is empty),
  ``play_time``, ``duration`` (from play_time_ms, duration_ms), the feedback flags
  is_click, is_like, is_follow, is_comment, is_forward, is_hate, long_view,
  is_profile_enter, is_rand and profile_stay_time, comment_stay_time as floats; ``tab``
  (the app scenario, 0-14) as a token. date and hourmin are consumed by ``timestamp``.
- ``<name>.user`` from user_features: user_active_degree, the ``*_range`` buckets,
  is_lowactive_period, is_live_streamer, is_video_author and onehot_feat0-17 as tokens;
  follow_user_num, fans_user_num, friend_user_num, register_days as floats.
- ``<name>.item`` from video_features_basic: author_id, video_type, upload_type,
  visible_status, music_id, music_type as tokens; ``tag`` ("12,65") as a token_seq;
  upload_dt as float unix seconds (UTC midnight of the date); video_duration (seconds),
  server_width, server_height as floats.
  Feature rows are written for the users and videos of the kept log rows only (the
  1K and 27K feature files list millions of videos the logs never show); the counts
  are in the summary. A user or video listed twice in a feature file is an error.

KuaiRand has no clip features: the yaml leaves ``clip_features`` unset, so clip-level
models learn clip embeddings (as the skip-behaviour paper does). The yaml carries the
papers' protocol (:func:`.protocols.watch_protocol`) and hides from model features the
play time and the signals computed from it: ``long_view`` (play >= min(duration, 18 s))
and ``is_click`` (in the single-column UI a "valid play": play >= min(duration, 7 s)).
For clicks as behaviour history (DUMN), convert with ``--mode feedback`` (below).

Rows: a missing or spaced id, a flag other than 0/1, a non-numeric value, an unreadable
date / hourmin where time_ms is empty are errors naming the file, line and field.
Dropped, with reasons: missing / zero / negative duration, missing / negative play time,
and repeated views of a (user, video) within and across the chosen logs, of which the
longest is kept (:func:`recbole_denoise.data.watch_time.clean_watch_rows`).

``--mode feedback`` (DUMN, Bian et al., RecSys 2021): the logs as impressions with all four
feedback kinds, natively: ``is_click`` 1 / 0 = click / unclick (0: shown, not clicked;
in the single-column UI a "valid play"), ``is_like`` = like, ``is_hate`` = dislike; time
from ``time_ms`` (or date + hourmin, as above). Output in the DUMN data contract
(:mod:`.feedback_csv`): ``<name>.inter`` with ``user_id item_id timestamp label click
like dislike``, the user and video feature files as above, and a yaml for
``FeedbackHistoryDataset`` (history elements: video id and ``author_id``, the analogue
of the paper's brand) with the last 20% of each user's rows in time as test and the 10%
before them as validation. The label is chosen by ``--label``:

- ``click`` (default): every log row is a sample, label = is_click (CTR, as on Taobao);
- ``like``: the like-vs-hate task of the paper's Table 7. Only rows with is_like or
  is_hate are samples (label = is_like); the other rows are no samples but still
  history: they are written to ``<name>.feedback`` as click / unclick events (with their
  video), so the click and unclick histories are the whole log's. A row both liked and
  hated has no label: counted and dropped (its events are kept in ``.feedback``).

Every log row is kept as an impression (no de-duplication of repeated views; play
times are not read, so no row is dropped for its duration).
"""

import argparse
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import pandas as pd

from .feedback_csv import (
    FEEDBACK_INTER_TYPES,
    KIND_FIELD,
    LABEL_FIELD,
    events_types,
    mark_counts,
)
from .protocols import FEEDBACK_SPLIT, feedback_protocol
from .columns import flag_column, number_column, read_csv_log, token_column
from .watch_csv import (
    TIME_FIELD,
    drop_unusable_views,
    ms_to_seconds,
    watch_columns,
    watch_protocol,
    watch_types,
)
from .writer import (
    concat_typed,
    ITEM_FIELD,
    USER_FIELD,
    AtomicTable,
    ConversionError,
    ConversionSummary,
    features_of,
    finish_conversion,
    start_conversion,
)

SOURCE = "kuairand"
DESCRIPTION = "KuaiRand-Pure / 1K / 27K logs (random, standard or both) with user and video features"
LOG_CHOICES = ("random", "standard", "both")
LOG_PATTERNS = {"random": ("log_random_*.csv",), "standard": ("log_standard_*.csv",)}
USER_PATTERN, VIDEO_PATTERN = "user_features*.csv", "video_features_basic*.csv"

LOG_REQUIRED = ("user_id", "video_id", "time_ms", "play_time_ms", "duration_ms")
LOG_FLAGS = ("is_click", "is_like", "is_follow", "is_comment", "is_forward", "is_hate", "long_view",
             "is_profile_enter", "is_rand")
LOG_NUMBERS = ("profile_stay_time", "comment_stay_time")
LOG_OPTIONAL = ("date", "hourmin", *LOG_FLAGS, *LOG_NUMBERS, "tab")
BEIJING_OFFSET_SECONDS = 8 * 3600  # date and hourmin are Beijing time (UTC+8)
# Computed from play time: hidden from model features (see the module docstring).
PLAY_DERIVED = ("long_view", "is_click")

USER_TOKENS = ("user_active_degree", "is_lowactive_period", "is_live_streamer", "is_video_author",
               "follow_user_num_range", "fans_user_num_range", "friend_user_num_range", "register_days_range",
               *(f"onehot_feat{i}" for i in range(18)))
USER_NUMBERS = ("follow_user_num", "fans_user_num", "friend_user_num", "register_days")
VIDEO_TOKENS = ("author_id", "video_type", "upload_type", "visible_status", "music_id", "music_type")
VIDEO_NUMBERS = ("server_width", "server_height")
VIDEO_OPTIONAL = (*VIDEO_TOKENS, *VIDEO_NUMBERS, "tag", "upload_dt", "video_duration")


MODES = ("watch", "feedback")
LABELS = ("click", "like")
FEEDBACK_REQUIRED = ("user_id", "video_id", "time_ms", "is_click", "is_like", "is_hate")
HISTORY_FEATURES = ("author_id",)  # besides the video id: the paper's item carries (id, brand)
NOT_A_SAMPLE = "neither liked nor hated (--label like): not a sample, its click / unclick kept in .feedback"
BOTH_LIKED_AND_HATED = "both liked and hated (--label like): no label, its events kept in .feedback"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--log", choices=LOG_CHOICES, default="random",
                        help="which logs to convert: the random-exposure log (default, the papers' KuaiRand), "
                        "the standard-recommendation logs, or both")
    parser.add_argument("--mode", choices=MODES, default="watch",
                        help="watch: watch-time rows for FRAME / DPSkipNet (default); feedback: impressions with "
                        "click / unclick / like / dislike for DUMN")
    parser.add_argument("--label", choices=LABELS, default="click",
                        help="--mode feedback: the sample's target: click (every row; default) or like (rows "
                        "liked or hated only, the paper's Table 7 like-vs-hate task)")


def run(args: argparse.Namespace) -> ConversionSummary:
    return convert(args.raw, args.out, name=args.name, log=args.log, mode=args.mode, label=args.label,
                   overwrite=args.overwrite, quiet=args.quiet)


def convert(raw, out, *, name: Optional[str] = None, log: str = "random", mode: str = "watch",
            label: str = "click", overwrite: bool = False, quiet: bool = False) -> ConversionSummary:
    """Convert the KuaiRand release at ``raw`` (folder, its data/ folder, or one log) into ``out``;
    ``mode="feedback"``: impressions for DUMN, labelled by ``label`` (see the module docstring)."""
    if log not in LOG_CHOICES:
        raise ConversionError("unknown log choice", field="log", expected=" or ".join(LOG_CHOICES), found=log)
    if mode not in MODES:
        raise ConversionError("unknown mode", field="mode", expected=" or ".join(MODES), found=mode)
    if label not in LABELS:
        raise ConversionError("unknown label", field="label", expected=" or ".join(LABELS), found=label)
    if mode == "feedback":
        return convert_feedback(raw, out, name=name, log=log, label=label, overwrite=overwrite, quiet=quiet)
    summary = start_conversion(SOURCE, raw, out, name=name, overwrite=overwrite, quiet=quiet, options={"log": log})
    folder, logs = locate_logs(Path(raw), log)
    frames = []
    for path in logs:
        before = summary.rows_read
        frames.append(read_csv_log(path, summary, LOG_REQUIRED, LOG_OPTIONAL, lambda c, l, p=path: typed_log(c, l, p)))
        summary.stats[f"{path.name} rows"] = summary.rows_read - before
    views = drop_unusable_views(concat_typed(frames), summary, time_field=TIME_FIELD)
    flags = [c for c in (*LOG_FLAGS, *LOG_NUMBERS) if c in views]
    extra = {c: "float" for c in flags}
    if "tab" in views:
        extra["tab"] = "token"
    tables = [AtomicTable("inter", views, watch_types(True, extra))]
    tables += feature_tables(folder, views, summary)
    config = watch_protocol(True, hidden=[c for c in PLAY_DERIVED if c in views])
    return finish_conversion(summary, tables, dataset_config=config, overwrite=overwrite, quiet=quiet)


def convert_feedback(raw, out, *, name: Optional[str], log: str, label: str, overwrite: bool,
                     quiet: bool) -> ConversionSummary:
    """``--mode feedback``: the logs as DUMN samples (and, with ``label="like"``, history events)."""
    summary = start_conversion(SOURCE, raw, out, name=name, overwrite=overwrite, quiet=quiet,
                               options={"log": log, "mode": "feedback", "label": label})
    folder, logs = locate_logs(Path(raw), log)
    frames = []
    for path in logs:
        before = summary.rows_read
        frames.append(read_csv_log(path, summary, FEEDBACK_REQUIRED, ("date", "hourmin"),
                                   lambda c, l, p=path: typed_feedback_log(c, l, p)))
        summary.stats[f"{path.name} rows"] = summary.rows_read - before
    rows = concat_typed(frames)
    del frames
    summary.stats.update({f"log {key}": value for key, value in mark_counts(rows).items()})
    tables: List[AtomicTable] = []
    if label == "like":
        rows, events = like_samples(rows, summary)
        tables.append(AtomicTable("feedback", events, events_types(())))
        summary.stats["history events in .feedback"] = len(events)
    else:
        rows[LABEL_FIELD] = rows["click"]
    summary.stats["label 1 share"] = round(float(rows[LABEL_FIELD].mean()), 4)
    tables.insert(0, AtomicTable("inter", rows, FEEDBACK_INTER_TYPES))
    seen = pd.DataFrame({USER_FIELD: rows[USER_FIELD].astype(str), ITEM_FIELD: rows[ITEM_FIELD].astype(str)})
    if label == "like":  # videos and users only the history events know need their features too
        seen = pd.concat([seen, tables[1].frame[[USER_FIELD, ITEM_FIELD]].astype(str)], ignore_index=True)
    tables += feature_tables(folder, seen, summary)
    item_columns = next((list(t.types) for t in tables if t.suffix == "item"), [])
    notes = {"click": "is_click 1 = click, 0 = shown and not clicked (unclick)", "like": "is_like",
             "dislike": "is_hate", "label": "is_click" if label == "click" else "is_like, on rows liked or hated"}
    config = feedback_protocol(
        feedback_fields={"click": "click", "like": "like", "dislike": "dislike"},
        feedback_events="feedback" if label == "like" else None,
        history_item_fields=[ITEM_FIELD, *(f for f in HISTORY_FEATURES if f in item_columns)],
        split=FEEDBACK_SPLIT, notes=notes)
    return finish_conversion(summary, tables, dataset_config=config, overwrite=overwrite, quiet=quiet)


def typed_feedback_log(chunk: pd.DataFrame, lines: np.ndarray, path: Path) -> pd.DataFrame:
    return pd.DataFrame({USER_FIELD: token_column(chunk, "user_id", lines, path),
                         ITEM_FIELD: token_column(chunk, "video_id", lines, path),
                         TIME_FIELD: timestamps(chunk, lines, path),
                         "click": flag_column(chunk, "is_click", lines, path).astype(np.float64),
                         "like": flag_column(chunk, "is_like", lines, path).astype(np.float64),
                         "dislike": flag_column(chunk, "is_hate", lines, path).astype(np.float64)})


def like_samples(rows: pd.DataFrame, summary: ConversionSummary):
    """``(samples, events)`` of the like-vs-hate task: rows liked xor hated are samples
    (label = like); every other row's click / unclick (and a like and hate of a row with
    both) become ``.feedback`` events, so no history is lost."""
    liked, hated = rows["like"].to_numpy() == 1, rows["dislike"].to_numpy() == 1
    sample = liked ^ hated
    summary.drop(NOT_A_SAMPLE, int((~liked & ~hated).sum()))
    summary.drop(BOTH_LIKED_AND_HATED, int((liked & hated).sum()))
    others = rows[~sample]
    parts = []
    for kind, chosen in (("click", others["click"].to_numpy() == 1), ("unclick", others["click"].to_numpy() == 0),
                         ("like", others["like"].to_numpy() == 1), ("dislike", others["dislike"].to_numpy() == 1)):
        part = others.loc[chosen, [USER_FIELD, TIME_FIELD, ITEM_FIELD]]
        parts.append(part.assign(**{KIND_FIELD: kind}))
    events = concat_typed([p.reset_index(drop=True) for p in parts]) if parts else None
    events = events.sort_values([USER_FIELD, TIME_FIELD], kind="stable").reset_index(drop=True)
    samples = rows[sample].reset_index(drop=True)
    samples[LABEL_FIELD] = samples["like"]
    return samples, events[[USER_FIELD, TIME_FIELD, KIND_FIELD, ITEM_FIELD]]


def locate_logs(raw: Path, log: str):
    """The folder holding the files, and the chosen log files in it (or ``raw`` itself)."""
    if raw.is_file():
        return raw.parent, [raw]
    folder = raw / "data" if (raw / "data").is_dir() and not any(raw.glob("log_*.csv")) else raw
    kinds = ("random", "standard") if log == "both" else (log,)
    logs = sorted({p for kind in kinds for pattern in LOG_PATTERNS[kind] for p in folder.glob(pattern)})
    if not logs:
        wanted = " and ".join(p for kind in kinds for p in LOG_PATTERNS[kind])
        raise ConversionError(f"no {log} log found", file=folder, expected=f"files matching {wanted}")
    return folder, logs


# --------------------------------------------------------------------------- the logs


def typed_log(chunk: pd.DataFrame, lines: np.ndarray, path: Path) -> pd.DataFrame:
    columns = watch_columns(chunk, lines, path, item="video_id", play="play_time_ms")
    columns[TIME_FIELD] = timestamps(chunk, lines, path)
    for column in LOG_FLAGS:
        if column in chunk:
            columns[column] = flag_column(chunk, column, lines, path)
    for column in LOG_NUMBERS:
        if column in chunk:
            columns[column] = number_column(chunk, column, lines, path, missing_ok=True)
    if "tab" in chunk:
        columns["tab"] = token_column(chunk, "tab", lines, path, missing_ok=True)
    return pd.DataFrame(columns)


def timestamps(chunk: pd.DataFrame, lines: np.ndarray, path: Path) -> np.ndarray:
    """Unix seconds from time_ms; where it is empty, from date + hourmin (Beijing time)."""
    seconds = ms_to_seconds(number_column(chunk, "time_ms", lines, path, missing_ok=True))
    empty = np.isnan(seconds)
    if empty.any():
        for column in ("date", "hourmin"):
            if column not in chunk:
                index = int(np.flatnonzero(empty)[0])
                raise ConversionError("missing time", file=path, line=int(lines[index]), field="time_ms",
                                      expected="time_ms, or date and hourmin columns", found="")
        seconds[empty] = date_hourmin_seconds(chunk[empty], lines[empty], path)
    return seconds


def date_hourmin_seconds(rows: pd.DataFrame, lines: np.ndarray, path: Path) -> np.ndarray:
    hourmin = rows["hourmin"].str.zfill(4)
    moments = pd.to_datetime(rows["date"] + hourmin, format="%Y%m%d%H%M", errors="coerce")
    bad = moments.isna().to_numpy()
    if bad.any():
        index = int(np.flatnonzero(bad)[0])
        raise ConversionError("bad date / hourmin where time_ms is empty", file=path, line=int(lines[index]),
                              field="date", expected="date YYYYMMDD and hourmin HHMM",
                              found=f"{rows['date'].iloc[index]} {rows['hourmin'].iloc[index]}")
    local = (moments - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1)
    return local.to_numpy(dtype=np.float64) - BEIJING_OFFSET_SECONDS


# --------------------------------------------------------------------------- user and video features


def feature_tables(folder: Path, views: pd.DataFrame, summary: ConversionSummary) -> List[AtomicTable]:
    tables = []
    user_file = single_file(folder, USER_PATTERN)
    if user_file is not None:
        users = read_csv_log(user_file, None, ("user_id",), USER_TOKENS + USER_NUMBERS,
                             lambda c, l: typed_users(c, l, user_file), what="feature file")
        tables.append(features_of(users, USER_FIELD, views, "user", user_file, summary,
                                  {USER_FIELD: "token", **{c: "token" for c in USER_TOKENS},
                                   **{c: "float" for c in USER_NUMBERS}}))
    video_file = single_file(folder, VIDEO_PATTERN)
    if video_file is not None:
        videos = read_csv_log(video_file, None, ("video_id",), VIDEO_OPTIONAL,
                              lambda c, l: typed_videos(c, l, video_file), what="feature file")
        tables.append(features_of(videos, ITEM_FIELD, views, "item", video_file, summary,
                                  {ITEM_FIELD: "token", **{c: "token" for c in VIDEO_TOKENS}, "tag": "token_seq",
                                   "upload_dt": "float", "video_duration": "float",
                                   **{c: "float" for c in VIDEO_NUMBERS}}))
    return tables


def single_file(folder: Path, pattern: str) -> Optional[Path]:
    found = sorted(folder.glob(pattern))
    if len(found) > 1:
        raise ConversionError("more than one feature file", file=folder, expected=f"one file matching {pattern}",
                              found=[p.name for p in found])
    return found[0] if found else None


def typed_users(chunk: pd.DataFrame, lines: np.ndarray, path: Path) -> pd.DataFrame:
    columns: Dict[str, object] = {USER_FIELD: token_column(chunk, "user_id", lines, path)}
    for column in USER_TOKENS:
        if column in chunk:
            columns[column] = token_column(chunk, column, lines, path, missing_ok=True)
    for column in USER_NUMBERS:
        if column in chunk:
            columns[column] = number_column(chunk, column, lines, path, missing_ok=True)
    columns["line"] = lines
    return pd.DataFrame(columns)


def typed_videos(chunk: pd.DataFrame, lines: np.ndarray, path: Path) -> pd.DataFrame:
    columns: Dict[str, object] = {ITEM_FIELD: token_column(chunk, "video_id", lines, path)}
    for column in VIDEO_TOKENS:
        if column in chunk:
            columns[column] = token_column(chunk, column, lines, path, missing_ok=True)
    if "tag" in chunk:
        columns["tag"] = tag_lists(chunk, lines, path)
    if "upload_dt" in chunk:
        columns["upload_dt"] = upload_seconds(chunk, lines, path)
    if "video_duration" in chunk:
        columns["video_duration"] = ms_to_seconds(number_column(chunk, "video_duration", lines, path,
                                                                missing_ok=True))
    for column in VIDEO_NUMBERS:
        if column in chunk:
            columns[column] = number_column(chunk, column, lines, path, missing_ok=True)
    columns["line"] = lines
    return pd.DataFrame(columns)


def tag_lists(chunk: pd.DataFrame, lines: np.ndarray, path: Path) -> pd.Series:
    """"12,65" -> ["12", "65"]; an empty cell -> no tags (a missing value)."""
    tags = chunk["tag"].str.replace(" ", "", regex=False)
    bad = tags.str.contains(r"[^0-9A-Za-z_,\-]", regex=True).to_numpy()
    if bad.any():
        index = int(np.flatnonzero(bad)[0])
        raise ConversionError("bad tag list", file=path, line=int(lines[index]), field="tag",
                              expected="comma-separated tag ids", found=chunk["tag"].iloc[index])
    return tags.map(lambda text: [t for t in text.split(",") if t] or None)


def upload_seconds(chunk: pd.DataFrame, lines: np.ndarray, path: Path) -> np.ndarray:
    """Unix seconds of the upload date (UTC midnight); an empty cell is missing."""
    texts = chunk["upload_dt"]
    empty = (texts == "").to_numpy()
    dates = pd.to_datetime(texts.mask(empty), format="%Y-%m-%d", errors="coerce")
    bad = dates.isna().to_numpy() & ~empty
    if bad.any():
        index = int(np.flatnonzero(bad)[0])
        raise ConversionError("bad date", file=path, line=int(lines[index]), field="upload_dt",
                              expected="YYYY-MM-DD", found=texts.iloc[index])
    seconds = (dates - pd.Timestamp("1970-01-01")) / pd.Timedelta(seconds=1)
    return seconds.to_numpy(dtype=np.float64)
