"""Converter for the Yelp Open Dataset reviews, with the ADT noise rule.

Source: Yelp Open Dataset, https://www.yelp.com/dataset (the ADT paper cites
https://www.yelp.com/dataset/challenge); used as "Yelp" in Wang et al., "Denoising
Implicit Feedback for Recommendation", WSDM 2021.

Raw layout read: ``yelp_academic_dataset_review.json`` (optionally gzipped; ``--raw`` may
also be the folder holding it), JSON lines with review_id, user_id, business_id, stars,
useful, funny, cool, text, date ("YYYY-MM-DD HH:MM:SS"; older releases "YYYY-MM-DD").
Only user_id, business_id, stars and date are used.

Output: ``<name>.inter`` with ``user_id:token item_id:token rating:float timestamp:float
clean:float`` (item_id = business_id; timestamp = unix seconds of ``date``, read as UTC
since the file carries no time zone: only the order matters).

Noise rule (paper, Section 5): a review with stars < 3 is a false positive; clean =
stars >= 3.

Rows: the file is clean, so any malformed line (invalid JSON, missing user_id /
business_id / stars / date, stars not a number from 1 to 5, unparsable date) is an
error naming the file, line and field. Dropped, with a reason in the summary:

- repeated reviews of the same business by the same user: the latest (by date, later
  line on ties) is kept, as the user's current opinion;
- with ``--min-interactions K`` (default 0 = none, leaving filtering to RecBole's
  ``user_inter_num_interval`` / ``item_inter_num_interval``): rows outside the K-core.
"""

import argparse
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
    parse_id,
    parse_number,
    require,
    start_conversion,
)

SOURCE = "yelp"
DESCRIPTION = "Yelp Open Dataset review file (yelp_academic_dataset_review.json)"
REVIEW_FILE_NAMES = ("yelp_academic_dataset_review.json", "yelp_academic_dataset_review.json.gz")
DUPLICATE_REASON = "repeated review of the same business (kept the latest)"


_DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--min-interactions", type=int, default=0, metavar="K",
                        help="keep the K-core: users and businesses with >= K reviews (default 0: no filter)")


def run(args: argparse.Namespace) -> ConversionSummary:
    return convert(args.raw, args.out, name=args.name, min_interactions=args.min_interactions,
                   overwrite=args.overwrite, quiet=args.quiet)


def convert(
    raw,
    out,
    *,
    name: Optional[str] = None,
    min_interactions: int = 0,
    overwrite: bool = False,
    quiet: bool = False,
) -> ConversionSummary:
    """Convert the Yelp review file at ``raw`` (the file or its folder) into ``out``."""
    summary = start_conversion(SOURCE, raw, out, name=name, overwrite=overwrite, quiet=quiet,
                               options={"min_interactions": min_interactions})
    path = find_review_file(Path(raw))
    reviews = read_reviews(path, summary)
    return finish_rated_reviews(summary, reviews, duplicate_reason=DUPLICATE_REASON,
                                min_interactions=min_interactions, overwrite=overwrite, quiet=quiet)


def find_review_file(raw: Path) -> Path:
    if raw.is_file():
        return raw
    for file_name in REVIEW_FILE_NAMES:
        if (raw / file_name).is_file():
            return raw / file_name
    raise ConversionError("review file not found", file=raw, expected=" or ".join(REVIEW_FILE_NAMES))


def read_reviews(path: Path, summary: ConversionSummary) -> pd.DataFrame:
    """One row per review: user_id, item_id, rating, timestamp and the line it came from."""
    users, items, dates = TokenColumn(), TokenColumn(), []
    stars, lines = array("d"), array("q")
    for number, record in iter_json_objects(path):
        summary.rows_read += 1

        def value(key):
            return require(record, key, file=path, line=number)

        users.append(parse_id(value("user_id"), file=path, line=number, field="user_id"))
        items.append(parse_id(value("business_id"), file=path, line=number, field="business_id"))
        stars.append(parse_number(value("stars"), file=path, line=number, field="stars", low=1, high=5))
        date = value("date")
        if not isinstance(date, str):
            raise ConversionError("bad date", file=path, line=number, field="date",
                                  expected="'YYYY-MM-DD HH:MM:SS'", found=date)
        dates.append(date)
        lines.append(number)
    line_numbers = np.asarray(lines)
    return pd.DataFrame({
        USER_FIELD: users.categorical(),
        ITEM_FIELD: items.categorical(),
        "rating": np.asarray(stars),
        "timestamp": parse_dates(dates, line_numbers, path),
        "line": line_numbers,
    })


def parse_dates(dates: list, line_numbers: np.ndarray, path: Path) -> np.ndarray:
    """Unix seconds of Yelp dates; the first unparsable one is an error with its line."""
    texts = pd.Series(dates, dtype="string").str.strip()
    parsed = pd.to_datetime(texts, format=_DATE_FORMATS[0], errors="coerce")
    for date_format in _DATE_FORMATS[1:]:
        missing = parsed.isna()
        if missing.any():
            parsed[missing] = pd.to_datetime(texts[missing], format=date_format, errors="coerce")
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if len(bad):
        raise ConversionError("bad date", file=path, line=int(line_numbers[bad[0]]), field="date",
                              expected="'YYYY-MM-DD HH:MM:SS'", found=dates[bad[0]])
    seconds = (parsed - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1)
    return seconds.to_numpy(dtype=np.float64)
