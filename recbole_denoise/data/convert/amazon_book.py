"""Converter for the Amazon review data of the Books category, with the ADT noise rule.

Source: Amazon product data (McAuley et al.), http://jmcauley.ucsd.edu/data/amazon/
(2014 release, cited by the paper) and its 2018 release
https://nijianmo.github.io/amazon/; used as "Amazon-book" in Wang et al., "Denoising
Implicit Feedback for Recommendation", WSDM 2021.

Raw layouts read (``--raw`` is the file, or a folder holding exactly one of the names below):

- review JSON lines, plain or gzipped: ``reviews_Books_5.json`` / ``reviews_Books.json``
  (2014), ``Books_5.json`` / ``Books.json`` (2018), ``.json.gz`` too; keys reviewerID,
  asin, overall (1-5), unixReviewTime (unix seconds), plus text fields that are ignored;
- ratings-only CSV ``ratings_Books.csv``: ``user,item,rating,timestamp`` with NO header.

The layout is chosen by the file name (``.csv`` -> CSV, otherwise JSON lines), or by
``--format``.

Output: ``<name>.inter`` with ``user_id:token item_id:token rating:float timestamp:float
clean:float`` (item_id = asin).

Noise rule (paper, Section 5): a rating below 3 is a false positive; clean = overall >= 3.

Rows: both layouts are clean exports, so a malformed line (invalid JSON, missing key,
wrong CSV column count, rating not a number from 1 to 5, timestamp not a number) is an
error naming the file, line and field. Dropped, with a reason in the summary:

- repeated reviews of the same book by the same user (the 2018 release holds many
  exact duplicates): the latest (by time, later line on ties) is kept;
- with ``--min-interactions K`` (default 0 = none, leaving filtering to RecBole's
  ``user_inter_num_interval`` / ``item_inter_num_interval``): rows outside the K-core.
"""

import argparse
import csv
from array import array
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from .rated_reviews import finish_rated_reviews
from .writer import (
    ITEM_FIELD,
    USER_FIELD,
    ConversionError,
    ConversionSummary,
    TokenColumn,
    iter_json_objects,
    iter_lines,
    parse_id,
    parse_number,
    require,
    start_conversion,
)

SOURCE = "amazon-book"
DESCRIPTION = "Amazon Books reviews (reviews_Books_5.json[.gz], Books.json[.gz]) or ratings_Books.csv"
RAW_FILE_NAMES = tuple(
    f"{stem}{ext}"
    for stem in ("reviews_Books_5", "Books_5", "reviews_Books", "Books")
    for ext in (".json", ".json.gz")
) + ("ratings_Books.csv",)
CSV_COLUMNS = ("user", "item", "rating", "timestamp")
DUPLICATE_REASON = "repeated review of the same book (kept the latest)"




def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("auto", "json", "csv"), default="auto",
                        help="raw layout: JSON-lines reviews or the header-less ratings CSV "
                        "(default auto: by file name)")
    parser.add_argument("--min-interactions", type=int, default=0, metavar="K",
                        help="keep the K-core: users and books with >= K ratings (default 0: no filter)")


def run(args: argparse.Namespace) -> ConversionSummary:
    return convert(args.raw, args.out, name=args.name, raw_format=args.format,
                   min_interactions=args.min_interactions, overwrite=args.overwrite, quiet=args.quiet)


def convert(
    raw,
    out,
    *,
    name: Optional[str] = None,
    raw_format: str = "auto",
    min_interactions: int = 0,
    overwrite: bool = False,
    quiet: bool = False,
) -> ConversionSummary:
    """Convert an Amazon Books review or ratings file at ``raw`` into ``out``."""
    summary = start_conversion(SOURCE, raw, out, name=name, overwrite=overwrite, quiet=quiet,
                               options={"format": raw_format, "min_interactions": min_interactions})
    path = find_raw_file(Path(raw))
    if raw_format == "auto":
        raw_format = "csv" if path.name.lower().endswith((".csv", ".csv.gz")) else "json"
    summary.options["format"] = raw_format
    reader = read_ratings_csv if raw_format == "csv" else read_reviews_json
    ratings = reader(path, summary)
    return finish_rated_reviews(summary, ratings, duplicate_reason=DUPLICATE_REASON,
                                min_interactions=min_interactions, overwrite=overwrite, quiet=quiet)


def find_raw_file(raw: Path) -> Path:
    if raw.is_file():
        return raw
    found = [raw / file_name for file_name in RAW_FILE_NAMES if (raw / file_name).is_file()]
    if len(found) != 1:
        raise ConversionError(
            "cannot tell which Amazon Books file to convert; pass the file itself as --raw", file=raw,
            expected="exactly one of " + ", ".join(RAW_FILE_NAMES),
            found=", ".join(p.name for p in found) or "none",
        )
    return found[0]


class _Ratings:
    """Growing columns of parsed ratings."""

    def __init__(self):
        self.users, self.items = TokenColumn(), TokenColumn()
        self.ratings, self.times, self.lines = array("d"), array("d"), array("q")

    def add(self, user: str, item: str, rating: float, time: float, line: int) -> None:
        self.users.append(user)
        self.items.append(item)
        self.ratings.append(rating)
        self.times.append(time)
        self.lines.append(line)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame({
            USER_FIELD: self.users.categorical(), ITEM_FIELD: self.items.categorical(),
            "rating": np.asarray(self.ratings), "timestamp": np.asarray(self.times), "line": np.asarray(self.lines),
        })


def read_reviews_json(path: Path, summary: ConversionSummary) -> pd.DataFrame:
    columns = _Ratings()
    for number, record in iter_json_objects(path):
        summary.rows_read += 1

        def value(key):
            return require(record, key, file=path, line=number)

        columns.add(
            parse_id(value("reviewerID"), file=path, line=number, field="reviewerID"),
            parse_id(value("asin"), file=path, line=number, field="asin"),
            parse_number(value("overall"), file=path, line=number, field="overall", low=1, high=5),
            parse_number(value("unixReviewTime"), file=path, line=number, field="unixReviewTime", low=0),
            number,
        )
    return columns.frame()


def read_ratings_csv(path: Path, summary: ConversionSummary) -> pd.DataFrame:
    columns = _Ratings()
    for number, text in iter_lines(path):
        summary.rows_read += 1
        # Ids hold no commas; the csv module is only needed when a field is quoted.
        fields = next(csv.reader([text])) if '"' in text else text.split(",")
        if len(fields) != len(CSV_COLUMNS):
            raise ConversionError("wrong number of columns", file=path, line=number, field=",".join(CSV_COLUMNS),
                                  expected=f"{len(CSV_COLUMNS)} comma-separated columns (no header)", found=text)
        user, item, rating, time = fields
        columns.add(
            parse_id(user, file=path, line=number, field="user"),
            parse_id(item, file=path, line=number, field="item"),
            parse_number(rating, file=path, line=number, field="rating", low=1, high=5),
            parse_number(time, file=path, line=number, field="timestamp", low=0),
            number,
        )
    return columns.frame()
