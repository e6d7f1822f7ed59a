"""Converter for Micro-video-A (MVA) in the layout of the FRAME authors' release.

Source: Shang et al., "Learning Fine-grained User Interests for Micro-video
Recommendation", SIGIR 2023, Section 4.1.1 (12,739 users, 58,291 videos, 342,694
interactions; "user-id, video-id, the user's playing time, duration time of the video,
interaction timestamp and multi-level behaviors including like, follow, and forward"),
released with the code at https://github.com/tsinghua-fib-lab/FRAME. Also the MVA of
the AAAI 2025 skip-behaviour paper.

Raw layout read (``--raw``: the folder), as the authors' code reads it
(``dataset_gcn.py``, ``train.py``):

- the interaction table ``data_final2.csv`` (``--interactions`` names another file in
  the folder; default: ``data_final2.csv``, else the folder's only ``.csv``),
  comma-separated with a header: ``user_id``, ``photo_id`` (the video), ``playing_time``,
  ``duration_ms`` required; ``timestamp``, ``like``, ``follow``, ``forward`` when present;
  other columns (e.g. a pandas index column) are ignored and listed in the summary;
- clip features, one file per video ``<clip dir>/<photo_id>.npy`` (``--clip-dir``,
  default ``fast_video_feature``, the code's ``./fast_video_feature/``): an array
  ``(N, d)``, row ``c`` = clip ``c`` (the code reads rows 0..3, ``N_c = 4``, ``d = 128``:
  ResNet-50 features of K frames per clip, averaged, then a linear layer, paper Section
  3.1.1). Numeric arrays only: files are never unpickled.

Units. ``duration_ms`` is in milliseconds by its name. ``playing_time`` carries no unit;
the authors' code computes ``ratio = playing_time / duration_ms`` and treats
``ratio >= 1`` as a full watch, which only makes sense if ``playing_time`` is also in
milliseconds; Kuaishou's other public logs name the same field ``playing_time`` in
milliseconds (KuaiSAR ``rec_inter.csv``). So the default is milliseconds (fairly sure,
not certain: the data itself was not available to check); ``--playing-time-unit s``
switches, and the summary reports the share of full watches, which would be near zero
under a wrong unit. ``timestamp`` has no documented unit: ``--timestamp-unit auto``
(default) reads values above 1e11 as milliseconds (later than 1973 in ms, after year
5000 in s), others as seconds.

Output: ``<name>.inter`` with ``user_id``, ``item_id`` (photo_id) tokens, ``play_time``,
``duration`` (seconds), ``timestamp`` (unix seconds), ``like``, ``follow``, ``forward``
floats; ``<name>.clip.npy`` (n_videos, N, d) float32 and ``<name>.clip.tokens`` named
under ``clip_features`` in the yaml, with ``n_clips: N``; and the video-level mean of
the clips as the dense modality ``visual`` (``item_modalities``, for video-level
models; the FRAME paper feeds the same visual features to its baselines). Clip rows
are written for every file in the clip folder; videos of the log without a file are
counted (the dataset fills them at load). The yaml carries the papers' protocol
(:func:`.protocols.watch_protocol`).

Rows: a missing or spaced id or a non-numeric value is an error naming the file, line
and field; a clip file that is not a numeric 2-d array, or whose shape differs from the
first one's, is an error naming the file. Dropped, with reasons: missing / zero /
negative duration, missing / negative play time, repeated views of a (user, video), of
which the longest is kept.
"""

import argparse
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np
import pandas as pd

from .features import DenseModality, as_dense_matrix, describe, load_npy, modality_files
from .columns import number_column, read_csv_log
from .watch_csv import (
    TIME_FIELD,
    drop_unusable_views,
    find_csv,
    watch_columns,
    watch_protocol,
    watch_types,
)
from .writer import (
    ITEM_FIELD,
    AtomicTable,
    ConversionError,
    ConversionSummary,
    finish_conversion,
    lines_file,
    npy_file,
    start_conversion,
)

SOURCE = "mva"
DESCRIPTION = "Micro-video-A in the FRAME release layout (data_final2.csv + fast_video_feature/<photo_id>.npy)"
DEFAULT_INTERACTIONS = "data_final2.csv"
DEFAULT_CLIP_DIR = "fast_video_feature"
REQUIRED = ("user_id", "photo_id", "playing_time", "duration_ms")
BEHAVIOURS = ("like", "follow", "forward")
OPTIONAL = ("timestamp", *BEHAVIOURS)
UNITS = {"ms": 1000.0, "s": 1.0}
TIMESTAMP_UNITS = ("auto", "s", "ms")
MS_TIMESTAMP_ABOVE = 1e11  # 1e11 ms is 1973; 1e11 s is after the year 5000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--interactions", metavar="FILE",
                        help=f"interaction csv inside --raw (default {DEFAULT_INTERACTIONS}, else the only .csv)")
    parser.add_argument("--clip-dir", metavar="DIR",
                        help=f"folder of <photo_id>.npy clip features (default --raw/{DEFAULT_CLIP_DIR} if present)")
    parser.add_argument("--playing-time-unit", choices=sorted(UNITS), default="ms",
                        help="unit of playing_time (default ms, as the authors' ratio playing_time / duration_ms "
                        "implies)")
    parser.add_argument("--timestamp-unit", choices=TIMESTAMP_UNITS, default="auto",
                        help="unit of timestamp (default auto: values above 1e11 are milliseconds)")


def run(args: argparse.Namespace) -> ConversionSummary:
    return convert(args.raw, args.out, name=args.name, interactions=args.interactions, clip_dir=args.clip_dir,
                   playing_time_unit=args.playing_time_unit, timestamp_unit=args.timestamp_unit,
                   overwrite=args.overwrite, quiet=args.quiet)


def convert(
    raw,
    out,
    *,
    name: Optional[str] = None,
    interactions: Optional[str] = None,
    clip_dir=None,
    playing_time_unit: str = "ms",
    timestamp_unit: str = "auto",
    overwrite: bool = False,
    quiet: bool = False,
) -> ConversionSummary:
    """Convert the MVA release folder ``raw`` into ``out`` (see the module docstring)."""
    if playing_time_unit not in UNITS:
        raise ConversionError("unknown unit", field="playing_time_unit", expected="ms or s", found=playing_time_unit)
    if timestamp_unit not in TIMESTAMP_UNITS:
        raise ConversionError("unknown unit", field="timestamp_unit", expected="auto, s or ms", found=timestamp_unit)
    options = {"interactions": interactions, "clip_dir": None if clip_dir is None else str(clip_dir),
               "playing_time_unit": playing_time_unit, "timestamp_unit": timestamp_unit}
    summary = start_conversion(SOURCE, raw, out, name=name, overwrite=overwrite, quiet=quiet, options=options)
    folder = Path(raw)
    if not folder.is_dir():
        raise ConversionError("the MVA release is a folder", file=folder,
                              expected=f"a folder holding {DEFAULT_INTERACTIONS} and {DEFAULT_CLIP_DIR}/")
    path = folder / interactions if interactions else find_csv(folder, DEFAULT_INTERACTIONS)
    if not path.is_file():
        raise ConversionError("interaction file not found", file=path, expected="a csv file inside --raw")
    clips_folder = clip_folder(folder, clip_dir)

    play_scale = UNITS[playing_time_unit]

    def typed(chunk: pd.DataFrame, lines: np.ndarray) -> pd.DataFrame:
        columns = watch_columns(chunk, lines, path, item="photo_id", play="playing_time", play_per_second=play_scale)
        if "timestamp" in chunk:
            columns[TIME_FIELD] = number_column(chunk, "timestamp", lines, path)
        for column in BEHAVIOURS:
            if column in chunk:
                columns[column] = number_column(chunk, column, lines, path, missing_ok=True)
        return pd.DataFrame(columns)

    views = read_csv_log(path, summary, REQUIRED, OPTIONAL, typed)
    has_time = TIME_FIELD in views
    if has_time:
        views[TIME_FIELD], unit = timestamp_seconds(views[TIME_FIELD].to_numpy(), timestamp_unit)
        summary.stats["timestamp unit"] = unit
    views = drop_unusable_views(views, summary, time_field=TIME_FIELD if has_time else None)
    extra = {c: "float" for c in BEHAVIOURS if c in views}
    tables = [AtomicTable("inter", views, watch_types(has_time, extra))]

    config = watch_protocol(has_time)
    extra_files = []
    if clips_folder is not None:
        tokens, clips = read_clip_files(clips_folder)
        summary.stats["clip features"] = f"{len(tokens)} videos x {clips.shape[1]} clips x {clips.shape[2]}"
        without = set(views[ITEM_FIELD].astype(str)) - set(tokens)
        summary.stats["videos of the log without clip features"] = len(without)
        clip_file, token_file = f"{summary.dataset}.clip.npy", f"{summary.dataset}.clip.tokens"
        extra_files += [npy_file(clip_file, clips), lines_file(token_file, tokens)]
        modality = DenseModality("visual", tokens, clips.mean(axis=1))
        files, entries = modality_files(summary.dataset, [modality])
        extra_files += files
        summary.stats.update(describe([modality]))
        config.update({"n_clips": int(clips.shape[1]), "clip_features": {"file": clip_file, "tokens": token_file},
                       "item_modalities": entries})
    return finish_conversion(summary, tables, dataset_config=config, overwrite=overwrite, quiet=quiet,
                             extra_files=extra_files)


def clip_folder(folder: Path, clip_dir) -> Optional[Path]:
    """The clip feature folder: ``clip_dir`` (must exist), else the default one if present."""
    if clip_dir is not None:
        path = Path(clip_dir)
        if not path.is_dir():
            raise ConversionError("clip feature folder not found", file=path, expected="a folder of <photo_id>.npy")
        return path
    default = folder / DEFAULT_CLIP_DIR
    return default if default.is_dir() else None


def timestamp_seconds(values: np.ndarray, unit: str) -> Tuple[np.ndarray, str]:
    """Unix seconds, and the unit the values were read in."""
    if unit == "auto":
        known = values[np.isfinite(values)]
        unit = "ms" if len(known) and np.median(known) > MS_TIMESTAMP_ABOVE else "s"
        label = f"{unit} (auto)"
    else:
        label = unit
    return values / UNITS[unit], label


def read_clip_files(folder: Path) -> Tuple[List[str], np.ndarray]:
    """Every ``<photo_id>.npy`` in ``folder`` as (tokens, array (n_videos, N, d)), sorted by id."""
    paths = sorted(folder.glob("*.npy"), key=lambda p: p.stem)
    if not paths:
        raise ConversionError("no clip feature file", file=folder, expected="<photo_id>.npy files")
    tokens, arrays = [], []
    for path in paths:
        token = path.stem
        if not token or any(ch.isspace() for ch in token):
            raise ConversionError("bad video id in a clip file name", file=path, expected="<photo_id>.npy")
        array = as_dense_matrix(load_npy(path), file=path)  # (N, d), finite, float32
        if arrays and array.shape != arrays[0].shape:
            raise ConversionError("clip features of another shape", file=path,
                                  expected=f"shape {arrays[0].shape}, as {paths[0].name}", found=f"shape {array.shape}")
        tokens.append(token)
        arrays.append(array)
    return tokens, np.stack(arrays)
