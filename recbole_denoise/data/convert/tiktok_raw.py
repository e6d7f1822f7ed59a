"""Converter for the raw Tiktok (Douyin) log of the ICME 2019 Short Video Understanding Challenge.

Source: ICME 2019 Grand Challenge "Short Video Understanding Challenge", track 2, by
ByteDance (https://biendata.com/competition/icmechallenge2019/); the Tiktok data that
MMGCN (ACM MM 2019) and GRCN (ACM MM 2020) preprocessed.

Raw layout read:

- ``final_track2_train.txt`` (``--raw``: the file or its folder; may be gzipped):
  tab-separated, no header, 12 columns: uid, user_city, item_id, author_id, item_city,
  channel, finish, like, music_id, device, time, duration_time. Ids are non-negative
  integers; the side ids (user_city, author_id, item_city, channel, music_id, device) use
  -1 for "unknown"; finish and like are 0/1; time and duration_time are numbers.
- with ``--features DIR``, the challenge's item feature files, JSON lines, each optional:
  ``track2_video_features.txt`` (item_id, video_feature_dim_128: 128 floats) -> dense
  modality ``visual``; ``track2_audio_features.txt`` (item_id, audio_feature_128_dim) ->
  dense modality ``acoustic``; ``track2_title.txt`` (item_id, title_features, also read
  under the key ``title``: {word id: count}) -> word-id modality ``textual``, one
  (item, word) pair per occurrence, so a word counted twice gives two pairs.

Output: one ``<name>.inter`` (RecBole splits it, e.g. with ``eval_args``) keeping every
column a model could use, with RecBole types: ``user_id`` (uid), ``item_id``,
``user_city``, ``author_id``, ``item_city``, ``channel``, ``music_id``, ``device`` as tokens
(-1 written as an empty cell, RecBole's missing value, so that "unknown" is not one shared
city or song); ``finish``, ``like``, ``timestamp`` (the raw ``time``, renamed to RecBole's
time field) and ``duration_time`` as floats; and the noise ground truth ``clean``.
Feature files follow :mod:`recbole_denoise.data.convert.features`; every feature row is
written, also for items that never occur in the log. The yaml carries GRCN's protocol
(Recall, NDCG, Precision at 10) and hides the fields the clean flag is derived from
(``ground_truth_fields``) from model features.

Positive rule (``--clean-rule``, ``--keep``): every logged row is an impression the user
watched, so by default every row is an interaction (``--keep all``), and the noise
ground truth is ``clean = finish or like`` (``--clean-rule finish-or-like``; also
``finish`` or ``like`` alone): a video neither finished nor liked is a false positive of
implicit feedback. ``--keep clean`` writes only the clean rows (the others are counted as
dropped), for training on the "true positives" alone.

Rows: a malformed line (wrong column count, a missing value, an id that is not an
integer, finish / like not 0 or 1, a non-numeric time or duration, a negative duration)
is an error naming the file, line and field; blank lines are skipped. Repeated (user,
item) rows are dropped but the latest (by time, the later line on ties) is kept, and
counted in the summary. In the feature files, a bad line is an error with file, line and
field; an item listed twice is an error; an empty vector is skipped and counted.
"""

import argparse
import re
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import pandas as pd

from .features import DenseModality, WordModality, describe, modality_files
from .protocols import grcn_protocol
from .reader import read_delimited
from .writer import (
    ChunkedTable,
    CLEAN_FIELD,
    ITEM_FIELD,
    USER_FIELD,
    AtomicTable,
    ConversionError,
    ConversionSummary,
    clean_flags,
    finish_conversion,
    iter_json_objects,
    keep_latest_per_pair,
    parse_id,
    require,
    start_conversion,
)

SOURCE = "tiktok"
DESCRIPTION = "ICME 2019 challenge track 2 log (final_track2_train.txt) with optional item features"
LOG_FILE_NAMES = ("final_track2_train.txt", "final_track2_train.txt.gz")

RAW_COLUMNS = ("uid", "user_city", "item_id", "author_id", "item_city", "channel", "finish", "like",
               "music_id", "device", "time", "duration_time")
ID_COLUMNS = {"uid": USER_FIELD, "item_id": ITEM_FIELD}  # raw -> atomic field
SIDE_ID_COLUMNS = ("user_city", "author_id", "item_city", "channel", "music_id", "device")
FLAG_COLUMNS = ("finish", "like")
NUMBER_COLUMNS = {"time": "timestamp", "duration_time": "duration_time"}  # raw -> atomic field
UNKNOWN_ID = "-1"

CLEAN_RULES = {"finish-or-like": ("finish", "like"), "finish": ("finish",), "like": ("like",)}
KEEP_CHOICES = ("all", "clean")
DUPLICATE_REASON = "repeated (user, item) row (kept the latest)"
NOT_CLEAN_REASON = "not clean under --clean-rule {rule} (--keep clean)"

# feature file -> (modality, key of the vector or of the word counts)
DENSE_FEATURE_FILES = {"track2_video_features.txt": ("visual", "video_feature_dim_128"),
                       "track2_audio_features.txt": ("acoustic", "audio_feature_128_dim")}
TITLE_FILE = "track2_title.txt"
TITLE_KEYS = ("title_features", "title")


INTER_TYPES = {USER_FIELD: "token", ITEM_FIELD: "token", **{c: "token" for c in SIDE_ID_COLUMNS},
               "finish": "float", "like": "float", "timestamp": "float", "duration_time": "float",
               CLEAN_FIELD: "float"}

_DIGITS = re.compile(r"\d+")
_SIDE_ID = re.compile(r"\d+|-1")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--features", metavar="DIR",
                        help="folder with track2_video_features.txt, track2_audio_features.txt, track2_title.txt")
    parser.add_argument("--clean-rule", choices=sorted(CLEAN_RULES), default="finish-or-like",
                        help="noise ground truth: a row is clean when it was finished or liked (default), "
                        "finished, or liked")
    parser.add_argument("--keep", choices=KEEP_CHOICES, default="all",
                        help="all logged rows (default, false positives flagged clean=0) or the clean rows only")


def run(args: argparse.Namespace) -> ConversionSummary:
    return convert(args.raw, args.out, name=args.name, features=args.features, clean_rule=args.clean_rule,
                   keep=args.keep, overwrite=args.overwrite, quiet=args.quiet)


def convert(
    raw,
    out,
    *,
    name: Optional[str] = None,
    features=None,
    clean_rule: str = "finish-or-like",
    keep: str = "all",
    overwrite: bool = False,
    quiet: bool = False,
) -> ConversionSummary:
    """Convert the challenge log at ``raw`` (file or folder), with features from ``features``."""
    if clean_rule not in CLEAN_RULES:
        raise ConversionError("unknown clean rule", field="clean_rule", expected=" or ".join(CLEAN_RULES),
                              found=clean_rule)
    if keep not in KEEP_CHOICES:
        raise ConversionError("unknown keep choice", field="keep", expected=" or ".join(KEEP_CHOICES), found=keep)
    summary = start_conversion(SOURCE, raw, out, name=name, overwrite=overwrite, quiet=quiet,
                               options={"features": None if features is None else str(features),
                                        "clean_rule": clean_rule, "keep": keep})
    feature_dir = check_feature_dir(features)
    log = read_log(find_log_file(Path(raw)), summary)
    log = keep_latest_per_pair(log, summary, DUPLICATE_REASON)
    log = log.assign(**{CLEAN_FIELD: clean_flags(log[list(CLEAN_RULES[clean_rule])].max(axis=1) == 1)})
    if keep == "clean":
        clean = log[CLEAN_FIELD] == 1
        summary.drop(NOT_CLEAN_REASON.format(rule=clean_rule), int((~clean).sum()))
        log = log[clean]

    modalities = read_feature_files(feature_dir, summary) if feature_dir is not None else []
    summary.stats.update(describe(modalities))
    extra_files, entries = modality_files(summary.dataset, modalities)
    config = {**grcn_protocol(), "ground_truth_fields": list(CLEAN_RULES[clean_rule])}
    if entries:
        config["item_modalities"] = entries
    tables = [AtomicTable("inter", log, INTER_TYPES)]
    return finish_conversion(summary, tables, dataset_config=config, overwrite=overwrite, quiet=quiet,
                             extra_files=extra_files)


def find_log_file(raw: Path) -> Path:
    if raw.is_file():
        return raw
    for file_name in LOG_FILE_NAMES:
        if (raw / file_name).is_file():
            return raw / file_name
    raise ConversionError("log file not found", file=raw, expected=" or ".join(LOG_FILE_NAMES))


def check_feature_dir(features) -> Optional[Path]:
    if features is None:
        return None
    folder = Path(features)
    names = list(DENSE_FEATURE_FILES) + [TITLE_FILE]
    if not folder.is_dir() or not any((folder / n).is_file() for n in names):
        raise ConversionError("no feature file found", file=folder, expected="a folder with " + ", ".join(names))
    return folder


# --------------------------------------------------------------------------- the log


def read_log(path: Path, summary: ConversionSummary) -> pd.DataFrame:
    """The log as typed columns plus the 1-based ``line`` of every row; blank lines skipped.

    Read block by block through :func:`.reader.read_delimited` (the full log has about 20
    million rows; every row must have the 12 fields); every
    chunk is checked column by column, so that the first bad value is reported with its line.
    """
    table = ChunkedTable()
    for chunk, lines in read_delimited(path, RAW_COLUMNS, sep="\t", quoted=False):
        columns = {column: DistinctValues(chunk[column]) for column in RAW_COLUMNS}
        blank = np.logical_and.reduce([values.empty_rows() for values in columns.values()])
        for values in columns.values():
            values.keep_rows(~blank)
        summary.rows_read += int((~blank).sum())
        table.add(typed_chunk(columns, lines[~blank], path))
    if not len(table) or summary.rows_read == 0:
        raise ConversionError("no rows in the log", file=path, expected="tab-separated rows")
    return table.frame()


class DistinctValues:
    """One raw column as row codes into its distinct values (stripped of spaces).

    Checks and conversions run once per distinct value rather than once per row: the log
    has about 20 million rows but far fewer distinct ids, flags and times.
    """

    def __init__(self, raw: pd.Series):
        self.codes, uniques = pd.factorize(raw.to_numpy(dtype=object))
        self.values = pd.Series(uniques, dtype=object).str.strip()

    def empty_rows(self) -> np.ndarray:
        return (self.values == "").to_numpy()[self.codes]

    def keep_rows(self, keep: np.ndarray) -> None:
        self.codes = self.codes[keep]

    def first_row_where(self, bad_values: np.ndarray) -> Optional[int]:
        """The first row whose value is flagged in ``bad_values`` (one flag per distinct value)."""
        bad_rows = np.asarray(bad_values, dtype=bool)[self.codes]
        return int(np.flatnonzero(bad_rows)[0]) if bad_rows.any() else None

    def per_row(self, converted: np.ndarray) -> np.ndarray:
        return np.asarray(converted)[self.codes]

    def categorical(self, unknown: Optional[str] = None) -> pd.Categorical:
        """The column as a categorical; ``unknown`` becomes a missing value."""
        labels = self.values.where(self.values != unknown) if unknown is not None else self.values
        value_codes, categories = pd.factorize(labels)  # a missing label gets code -1
        return pd.Categorical.from_codes(value_codes[self.codes], categories)


def typed_chunk(columns: Dict[str, DistinctValues], lines: np.ndarray, path: Path) -> pd.DataFrame:
    """One checked chunk: ids as categories, flags and numbers as floats, and every row's ``line``."""
    def check(column: str, bad_values, problem: str, expected: str) -> None:
        row = columns[column].first_row_where(bad_values)
        if row is not None:
            found = columns[column].values.iloc[columns[column].codes[row]]
            raise ConversionError(problem, file=path, line=int(lines[row]), field=column, expected=expected,
                                  found=found)

    for column in RAW_COLUMNS:
        check(column, columns[column].values == "", "missing value", "a value in each of the 12 columns")
    typed: Dict[str, object] = {}
    for column, field in ID_COLUMNS.items():
        check(column, ~columns[column].values.str.fullmatch(_DIGITS.pattern), "bad id", "a non-negative integer")
        typed[field] = columns[column].categorical()
    for column in SIDE_ID_COLUMNS:
        check(column, ~columns[column].values.str.fullmatch(_SIDE_ID.pattern), "bad id",
              "a non-negative integer or -1 (unknown)")
        typed[column] = columns[column].categorical(unknown=UNKNOWN_ID)
    for column in FLAG_COLUMNS:
        values = columns[column].values
        check(column, ~values.isin(("0", "1")), "bad flag", "0 or 1")
        typed[column] = columns[column].per_row((values == "1").to_numpy(dtype=np.float64))
    for column, field in NUMBER_COLUMNS.items():
        numbers = pd.to_numeric(columns[column].values, errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(numbers)
        if column == "duration_time":
            bad |= numbers < 0
        check(column, bad, "bad number", "a number >= 0" if column == "duration_time" else "a number")
        typed[field] = columns[column].per_row(numbers)
    typed["line"] = lines
    return pd.DataFrame(typed)



# --------------------------------------------------------------------------- item features


def read_feature_files(folder: Path, summary: ConversionSummary) -> List:
    modalities = []
    for file_name, (modality, key) in DENSE_FEATURE_FILES.items():
        if (folder / file_name).is_file():
            dense, skipped = read_dense_features(folder / file_name, modality, key)
            modalities.append(dense)
            if skipped:
                summary.stats[f"{modality}: items with an empty vector (skipped)"] = skipped
    if (folder / TITLE_FILE).is_file():
        modalities.append(read_title_words(folder / TITLE_FILE))
    return modalities


def read_dense_features(path: Path, modality: str, key: str) -> Tuple[DenseModality, int]:
    """One vector per item (dimension of the first one), and the number of empty vectors skipped."""
    tokens: List[str] = []
    vectors: List[np.ndarray] = []
    first_line: Dict[str, int] = {}
    skipped = 0
    for number, record in iter_json_objects(path):
        token = item_token(record, path, number, first_line)
        value = require(record, key, file=path, line=number)
        vector = parse_vector(value, path, number, key)
        if len(vector) == 0:
            skipped += 1
            continue
        if vectors and len(vector) != len(vectors[0]):
            raise ConversionError("vector of another dimension", file=path, line=number, field=key,
                                  expected=f"{len(vectors[0])} numbers, as on the first line",
                                  found=f"{len(vector)} numbers")
        tokens.append(token)
        vectors.append(vector)
    if not vectors:
        raise ConversionError("no feature vector in the file", file=path, field=key)
    return DenseModality(modality, tokens, np.stack(vectors)), skipped


def read_title_words(path: Path) -> WordModality:
    """(row, word id) pairs, one per word occurrence; items with an empty title keep their row."""
    tokens: List[str] = []
    rows: List[int] = []
    words: List[int] = []
    first_line: Dict[str, int] = {}
    for number, record in iter_json_objects(path):
        token = item_token(record, path, number, first_line)
        key = next((k for k in TITLE_KEYS if k in record), TITLE_KEYS[0])
        counts = require(record, key, file=path, line=number)
        if not isinstance(counts, dict):
            raise ConversionError("bad title", file=path, line=number, field=key,
                                  expected="an object {word id: count}", found=counts)
        row = len(tokens)
        tokens.append(token)
        for word, count in sorted(counts.items(), key=lambda pair: str(pair[0])):
            word_id = parse_word_id(word, path, number, key)
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise ConversionError("bad word count", file=path, line=number, field=key,
                                      expected="a positive integer count", found={word: count})
            rows.extend([row] * count)
            words.extend([word_id] * count)
    if not tokens:
        raise ConversionError("no title in the file", file=path)
    pairs = np.stack([np.asarray(rows, dtype=np.int64), np.asarray(words, dtype=np.int64)], axis=1)
    n_words = int(pairs[:, 1].max()) + 1 if len(pairs) else 0
    return WordModality("textual", tokens, pairs.reshape(-1, 2), n_words=n_words)


def item_token(record: dict, path: Path, number: int, first_line: Dict[str, int]) -> str:
    """The record's item id as the token used in the log; an item listed twice is an error."""
    token = parse_id(require(record, "item_id", file=path, line=number), file=path, line=number, field="item_id")
    if token in first_line:
        raise ConversionError(f"item listed twice (first on line {first_line[token]})", file=path, line=number,
                              field="item_id", expected="one line per item", found=token)
    first_line[token] = number
    return token


def parse_vector(value, path: Path, number: int, key: str) -> np.ndarray:
    if not isinstance(value, list):
        raise ConversionError("bad feature vector", file=path, line=number, field=key,
                              expected="a list of numbers", found=value)
    try:
        vector = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        vector = None
    if vector is None or vector.ndim != 1 or not np.isfinite(vector).all():
        raise ConversionError("bad feature vector", file=path, line=number, field=key,
                              expected="a list of finite numbers", found=value)
    return vector.astype(np.float32)


def parse_word_id(word, path: Path, number: int, key: str) -> int:
    text = str(word).strip()
    if not _DIGITS.fullmatch(text):
        raise ConversionError("bad word id", file=path, line=number, field=key,
                              expected="non-negative integer word ids", found=word)
    return int(text)
