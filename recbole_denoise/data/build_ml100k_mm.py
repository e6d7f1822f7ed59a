"""Build ``ml-100k-mm``, the bundled multimodal dataset, from the ml-100k that ships with RecBole.

Source: MovieLens 100K (Harper and Konstan, "The MovieLens Datasets: History and
Context", ACM TiiS 2015; https://grouplens.org/datasets/movielens/100k/), as shipped in
RecBole 1.2.1: ``recbole/dataset_example/ml-100k/ml-100k.inter`` (user_id, item_id,
rating 1-5, timestamp) and ``ml-100k.item`` (item_id, movie_title: token_seq,
release_year: token, class: token_seq of genres).

Usage::

    python -m recbole_denoise.data.build_ml100k_mm --out dataset/ml-100k-mm [--overwrite]

Output, written atomically through :mod:`recbole_denoise.data.convert.writer`:

- ``ml-100k-mm.inter``: a copy of the interactions (user_id, item_id, rating, timestamp);
- three item modalities in the multimodal feature convention
  (:mod:`recbole_denoise.data.convert.features`), one row per movie of ``ml-100k.item``
  (1,682), named under ``item_modalities`` in ``ml-100k-mm.yaml``:

  - ``genre`` (dense, 19-d): multi-hot over the genres of the ``class`` field (ml-100k's
    19, including its own "unknown" genre), columns in sorted genre order;
  - ``year`` (dense, 9-d): one-hot of the release decade (one column per decade from the
    earliest to the latest known year: 1920s ... 1990s) followed by the release year
    scaled to [0, 1] over the known years (1922 -> 0, 1998 -> 1). The year is
    ``release_year`` when it is a 4-digit year, else the trailing "(1995)" of the title
    (item 1412, whose year field reads "V"). Missing year (item 267, whose fields are the
    placeholder "unkonwn"): all decade columns 0 and the scaled median known year;
  - ``title`` (word ids): the lower-cased words of the title (runs of letters and digits,
    apostrophes inside a word kept: "c'est"), without a trailing "(1995)"-style year;
    one (row, word id) pair per occurrence; the vocabulary is sorted, so word ids and the
    output are deterministic. The placeholder title "unkonwn" has no words.

- ``ml-100k-mm.yaml``: ``load_col``, ``item_modalities`` and the protocol
  Recall / NDCG / Precision at 10 and 20, Recall@10 for validation.

Everything here is derived from RecBole's public ml-100k; the folder is small (about
2.3 MB) and meant to be committed.
"""

import argparse
import os
import re
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import pandas as pd

from recbole_denoise.data.convert.features import DenseModality, WordModality, describe, modality_files
from recbole_denoise.data.convert.writer import (
    ITEM_FIELD,
    USER_FIELD,
    AtomicTable,
    ConversionError,
    ConversionSummary,
    finish_conversion,
    iter_lines,
    parse_number,
    start_conversion,
)

SOURCE = "build_ml100k_mm"
INTER_TYPES = {USER_FIELD: "token", ITEM_FIELD: "token", "rating": "float", "timestamp": "float"}
ITEM_FIELDS = ("item_id", "movie_title", "release_year", "class")
PLACEHOLDERS = {"unknown", "unkonwn"}  # RecBole's file spells item 267's fields "unkonwn"
PROTOCOL = {"metrics": ["Recall", "NDCG", "Precision"], "topk": [10, 20], "valid_metric": "Recall@10"}

_YEAR = re.compile(r"\d{4}")
_TRAILING_YEAR = re.compile(r"\s*\((\d{4})\)\s*$")
_WORD = re.compile(r"\w+(?:'\w+)*")


def recbole_ml100k_dir() -> Path:
    """The ml-100k folder inside the installed RecBole."""
    import recbole

    return Path(os.path.dirname(recbole.__file__)) / "dataset_example" / "ml-100k"


def build(out, *, source=None, overwrite: bool = False, quiet: bool = False) -> ConversionSummary:
    """Build ml-100k-mm into ``out`` from ``source`` (default: RecBole's ml-100k folder)."""
    folder = Path(source) if source is not None else recbole_ml100k_dir()
    summary = start_conversion(SOURCE, folder, out, overwrite=overwrite)
    if source is None:  # a path that does not depend on this machine
        import recbole

        summary.raw = f"recbole/dataset_example/ml-100k (RecBole {recbole.__version__})"
    inter = read_interactions(folder / "ml-100k.inter", summary)
    items = read_items(folder / "ml-100k.item")

    modalities = [genre_modality(items), year_modality(items), title_modality(items)]
    summary.stats.update(describe(modalities))
    extra_files, entries = modality_files(summary.dataset, modalities)
    config = {**PROTOCOL, "item_modalities": entries}
    tables = [AtomicTable("inter", inter, INTER_TYPES)]
    return finish_conversion(summary, tables, dataset_config=config, overwrite=overwrite, quiet=quiet,
                             extra_files=extra_files)


# --------------------------------------------------------------------------- reading


def read_interactions(path: Path, summary: ConversionSummary) -> pd.DataFrame:
    """The atomic interaction file, checked: ids present, rating 1-5, timestamp a number."""
    if not path.is_file():
        raise ConversionError("required file missing", file=path, expected="ml-100k.inter")
    expected_header = "\t".join(f"{name}:{ftype}" for name, ftype in INTER_TYPES.items())
    with open(path, encoding="utf-8") as handle:
        header = handle.readline().rstrip("\r\n")
    if header != expected_header:
        raise ConversionError("unexpected header", file=path, line=1, expected=expected_header, found=header)
    frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, skip_blank_lines=False)
    frame.columns = list(INTER_TYPES)
    lines = np.arange(2, len(frame) + 2)
    summary.rows_read = len(frame)
    for field in (USER_FIELD, ITEM_FIELD):
        bad = (frame[field].str.strip() == "").to_numpy()
        if bad.any():
            index = int(np.flatnonzero(bad)[0])
            raise ConversionError("missing id", file=path, line=int(lines[index]), field=field,
                                  expected="a non-empty token", found=frame[field].iloc[index])
    for field, low, high in (("rating", 1, 5), ("timestamp", 0, None)):
        numbers = pd.to_numeric(frame[field], errors="coerce")
        bad = (numbers.isna() | (numbers < low) | ((numbers > high) if high is not None else False)).to_numpy()
        if bad.any():
            index = int(np.flatnonzero(bad)[0])
            parse_number(frame[field].iloc[index], file=path, line=int(lines[index]), field=field,
                         low=low, high=high)  # raises with the expected range
        frame[field] = numbers.astype(np.float64)
    return frame


def read_items(path: Path) -> pd.DataFrame:
    """item_id, title (year suffix removed), year (float, NaN if unknown), genres (list)."""
    if not path.is_file():
        raise ConversionError("required file missing", file=path, expected="ml-100k.item")
    rows = []
    positions: Dict[str, int] = {}
    for number, text in iter_lines(path):
        cells = text.split("\t")
        if not positions:
            names = [cell.split(":")[0] for cell in cells]
            missing = [name for name in ITEM_FIELDS if name not in names]
            if missing:
                raise ConversionError("header lacks a field", file=path, line=number, field=missing[0],
                                      expected="item_id, movie_title, release_year, class", found=text)
            positions = {name: names.index(name) for name in ITEM_FIELDS}
            width = len(names)
            continue
        if len(cells) != width:
            raise ConversionError("wrong number of columns", file=path, line=number, field="columns",
                                  expected=f"{width} tab-separated columns", found=text)
        item = cells[positions["item_id"]].strip()
        if not item:
            raise ConversionError("missing id", file=path, line=number, field="item_id", expected="a token")
        title = cells[positions["movie_title"]].strip()
        rows.append({
            "item_id": item,
            "title": _TRAILING_YEAR.sub("", title),
            "year": release_year(cells[positions["release_year"]].strip(), title),
            "genres": cells[positions["class"]].split(),
        })
    if not rows:
        raise ConversionError("no items", file=path, expected="a header line and one line per movie")
    return pd.DataFrame(rows)


def release_year(field: str, title: str) -> float:
    """The 4-digit year field, else the title's trailing "(YYYY)", else NaN."""
    if _YEAR.fullmatch(field):
        return float(field)
    match = _TRAILING_YEAR.search(title)
    return float(match.group(1)) if match else float("nan")


# --------------------------------------------------------------------------- modalities


def genre_modality(items: pd.DataFrame) -> DenseModality:
    genres = sorted({genre for row in items["genres"] for genre in row})
    column = {genre: index for index, genre in enumerate(genres)}
    matrix = np.zeros((len(items), len(genres)), dtype=np.float32)
    for row, names in enumerate(items["genres"]):
        matrix[row, [column[name] for name in names]] = 1.0
    return DenseModality("genre", list(items["item_id"]), matrix)


def year_modality(items: pd.DataFrame) -> DenseModality:
    """Decade one-hot + scaled year; a missing year gets no decade and the scaled median year."""
    years = items["year"].to_numpy(dtype=np.float64)
    known = years[~np.isnan(years)]
    first, last = int(known.min()), int(known.max())
    decades = list(range(first // 10 * 10, last // 10 * 10 + 1, 10))
    matrix = np.zeros((len(items), len(decades) + 1), dtype=np.float32)
    span = max(last - first, 1)
    for row, year in enumerate(years):
        if np.isnan(year):
            matrix[row, -1] = (np.median(known) - first) / span
            continue
        matrix[row, decades.index(int(year) // 10 * 10)] = 1.0
        matrix[row, -1] = (year - first) / span
    return DenseModality("year", list(items["item_id"]), matrix)


def title_words(title: str) -> List[str]:
    if title.lower() in PLACEHOLDERS:
        return []
    return _WORD.findall(title.lower())


def title_modality(items: pd.DataFrame) -> WordModality:
    words_per_item = [title_words(title) for title in items["title"]]
    vocabulary = {word: index for index, word in enumerate(sorted({w for ws in words_per_item for w in ws}))}
    pairs = sorted((row, vocabulary[word]) for row, words in enumerate(words_per_item) for word in words)
    return WordModality("title", list(items["item_id"]), np.asarray(pairs, dtype=np.int64).reshape(-1, 2),
                        n_words=len(vocabulary))


# --------------------------------------------------------------------------- command line


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m recbole_denoise.data.build_ml100k_mm", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="output folder, named ml-100k-mm (e.g. dataset/ml-100k-mm)")
    parser.add_argument("--ml100k", metavar="DIR",
                        help="folder with ml-100k.inter and ml-100k.item (default: the copy inside RecBole)")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier build in --out")
    parser.add_argument("--quiet", action="store_true", help="do not print the summary")
    args = parser.parse_args(argv)
    try:
        build(args.out, source=args.ml100k, overwrite=args.overwrite, quiet=args.quiet)
    except ConversionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
