"""Converter for the ADT authors' preprocessed datasets (Yelp, Amazon-book, Adressa).

Source: Wang, Feng, He, Nie, Chua, "Denoising Implicit Feedback for Recommendation",
WSDM 2021; data in the authors' repository https://github.com/WenjieWWJ/DenoisingRec
(``data/<ds>/`` with ``<ds>`` in yelp, amazon_book, adressa).

Raw layout read (no header in any file, tab-separated, integer ids):

- ``<ds>.train.rating``, ``<ds>.valid.rating``: ``user \\t item \\t flag``, flag 1 = clean,
  0 = false positive (the authors' noise labels: rating < 3 for Yelp and Amazon-book,
  dwell time < 10 s for Adressa). Exactly three columns.
- ``<ds>.test.negative``: the clean test pairs, one per line, either ``user \\t item``
  (Yelp, Amazon-book; further columns are ignored) or, for Adressa, ``(user, item)``
  followed by tab-separated sampled negatives, which are ignored. The tuple is parsed
  with a regular expression, never evaluated.

Rated files (``--clean-threshold T``, Python ``clean_threshold=T``): the third column of
the ``.rating`` files is a rating, ``user \\t item \\t rating`` (any number), and the
flag is derived as the ADT paper does: clean = rating >= T, so ``T = 3`` makes a rating
below 3 a false positive. The test file is then ``<ds>.test.rating`` when it exists
(rated like the others; its false positives are kept with ``clean = 0``, and the
package's ``clean_test`` tests on the clean rows only), else ``<ds>.test.negative`` as
above. The ratings themselves are not written: only the flag is.

Output: ``<name>.train.inter``, ``<name>.valid.inter``, ``<name>.test.inter`` with
``user_id:token item_id:token clean:float`` (every test row is clean), read by RecBole
through ``benchmark_filename: [train, valid, test]``; the yaml also carries the ADT
protocol (:func:`.protocols.adt_protocol_for`): full ranking, Recall and NDCG at 50 and
100 (Yelp, Amazon-book, and any other name) or at 3 and 20 (Adressa).

Noise rule: the authors' flag, copied as is (or the rating rule above). Nothing is dropped: the files are the
authors' exact splits, so any malformed line (wrong column count, non-integer id, flag
not 0/1, rating not a number, bad tuple) is an error naming the file, line and field. Blank lines are
skipped. Repeated (user, item) pairs within a split are kept as the authors have them
and counted in the summary's stats, as are test pairs that also occur in training.
"""

import argparse
import math
import re
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pandas as pd

from .protocols import ADT_TOPK, adt_protocol_for
from .writer import (
    CLEAN_FIELD,
    ITEM_FIELD,
    USER_FIELD,
    AtomicTable,
    ConversionError,
    ConversionSummary,
    finish_conversion,
    iter_lines,
    parse_int,
    parse_number,
    start_conversion,
)

SOURCE = "adt"
DESCRIPTION = "ADT authors' layout (<ds>.train.rating, <ds>.valid.rating, <ds>.test.negative)"
RATING_SPLITS = ("train", "valid")
TEST_SUFFIX = ".test.negative"
RATED_TEST_SUFFIX = ".test.rating"  # read with --clean-threshold only
FILE_SUFFIXES = (".train.rating", ".valid.rating", TEST_SUFFIX)


_PAIR_TUPLE = re.compile(r"^\(\s*(\d+)\s*,\s*(\d+)\s*\)$")
_INTER_TYPES = {USER_FIELD: "token", ITEM_FIELD: "token", CLEAN_FIELD: "float"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--prefix",
        help="the authors' dataset name that prefixes the raw files (yelp, amazon_book, adressa); "
        "default: inferred from the *.train.rating file in --raw, or --name when several are there",
    )
    parser.add_argument(
        "--clean-threshold", type=float, metavar="RATING",
        help="the third column of the .rating files is a rating, not a 0/1 flag: clean when rating >= RATING "
        "(the ADT paper: 3, a rating below 3 is a false positive); the test file is then <ds>.test.rating "
        "if present, else <ds>.test.negative",
    )


def run(args: argparse.Namespace) -> ConversionSummary:
    return convert(args.raw, args.out, name=args.name, prefix=args.prefix, clean_threshold=args.clean_threshold,
                   overwrite=args.overwrite, quiet=args.quiet)


def convert(
    raw,
    out,
    *,
    name: Optional[str] = None,
    prefix: Optional[str] = None,
    clean_threshold: Optional[float] = None,
    overwrite: bool = False,
    quiet: bool = False,
) -> ConversionSummary:
    """Convert the authors' three files found at ``raw`` (their folder or one of them);
    with ``clean_threshold`` the ``.rating`` files hold ratings (clean = rating >= it)."""
    if clean_threshold is not None and not math.isfinite(clean_threshold):
        raise ConversionError("bad threshold", field="clean_threshold", expected="a finite number",
                              found=clean_threshold)
    summary = start_conversion(SOURCE, raw, out, name=name, overwrite=overwrite, quiet=quiet)
    folder, prefix = locate_files(Path(raw), prefix, summary.dataset, rated=clean_threshold is not None)
    test_path = folder / f"{prefix}{TEST_SUFFIX}"
    if clean_threshold is not None and (folder / f"{prefix}{RATED_TEST_SUFFIX}").is_file():
        test_path = folder / f"{prefix}{RATED_TEST_SUFFIX}"
    summary.options = {"prefix": prefix, "clean_threshold": clean_threshold}

    splits = {split: read_rating_file(folder / f"{prefix}.{split}.rating", summary, clean_threshold)
              for split in RATING_SPLITS}
    if test_path.name.endswith(RATED_TEST_SUFFIX):
        splits["test"] = read_rating_file(test_path, summary, clean_threshold)
    else:
        splits["test"] = read_test_file(test_path, summary)
    if clean_threshold is not None:
        summary.stats["noise rule"] = f"clean = rating >= {clean_threshold:g}; test file {test_path.name}"
    summary.stats.update(split_stats(splits))

    protocol = adt_protocol_for(prefix)
    if prefix.lower().replace("-", "_") not in ADT_TOPK:
        summary.stats["protocol"] = (f"'{prefix}' is not one of the paper's datasets: ADT protocol at "
                                     f"{protocol['topk']} (Yelp / Amazon-book)")
    tables = [AtomicTable(f"{split}.inter", frame, _INTER_TYPES) for split, frame in splits.items()]
    return finish_conversion(summary, tables, dataset_config=protocol, overwrite=overwrite, quiet=quiet)


def locate_files(raw: Path, prefix: Optional[str], dataset: str, *, rated: bool = False) -> Tuple[Path, str]:
    """The folder of the three files and their prefix; every file must exist (with
    ``rated``, ``<ds>.test.rating`` may stand in for ``<ds>.test.negative``)."""
    if raw.is_file():
        folder = raw.parent
        suffixes = FILE_SUFFIXES + ((RATED_TEST_SUFFIX,) if rated else ())
        inferred = [raw.name[: -len(s)] for s in suffixes if raw.name.endswith(s)]
        if not inferred:
            raise ConversionError("not a file of the authors' layout", file=raw,
                                  expected=f"a name ending in one of {FILE_SUFFIXES}", found=raw.name)
        prefix = prefix or inferred[0]
    else:
        folder = raw
        if prefix is None:
            found = sorted(p.name[: -len(".train.rating")] for p in raw.glob("*.train.rating"))
            if len(found) == 1:
                prefix = found[0]
            elif dataset in found:
                prefix = dataset
            else:
                raise ConversionError(
                    "cannot tell which dataset to convert; pass --prefix", file=raw,
                    expected="exactly one <ds>.train.rating", found=", ".join(found) or "none",
                )
    for suffix in FILE_SUFFIXES:
        path = folder / f"{prefix}{suffix}"
        if suffix == TEST_SUFFIX and rated and (folder / f"{prefix}{RATED_TEST_SUFFIX}").is_file():
            continue
        if not path.is_file():
            expected = f"the authors' {prefix}{suffix}"
            if suffix == TEST_SUFFIX and rated:
                expected = f"{prefix}{RATED_TEST_SUFFIX} or {prefix}{suffix}"
            raise ConversionError("required file missing", file=path, expected=expected)
    return folder, prefix


def read_rating_file(path: Path, summary: ConversionSummary, clean_threshold: Optional[float] = None) -> pd.DataFrame:
    """``user \\t item \\t flag`` lines as a frame with the clean flag (1 clean, 0 false
    positive); with ``clean_threshold``, ``user \\t item \\t rating`` lines, clean when
    ``rating >= clean_threshold``."""
    third = "flag" if clean_threshold is None else "rating"
    users: List[str] = []
    items: List[str] = []
    flags: List[float] = []
    for number, text in iter_lines(path):
        summary.rows_read += 1
        columns = text.split("\t")
        if len(columns) != 3:
            raise ConversionError("wrong number of columns", file=path, line=number, field=f"user\\titem\\t{third}",
                                  expected="3 tab-separated columns", found=text)
        users.append(str(parse_int(columns[0], file=path, line=number, field="user")))
        items.append(str(parse_int(columns[1], file=path, line=number, field="item")))
        if clean_threshold is not None:
            rating = parse_number(columns[2].strip(), file=path, line=number, field="rating")
            flags.append(1.0 if rating >= clean_threshold else 0.0)
            continue
        flag = parse_int(columns[2], file=path, line=number, field="flag")
        if flag not in (0, 1):
            raise ConversionError("bad noise flag", file=path, line=number, field="flag",
                                  expected="0 (false positive) or 1 (clean); for a rating column pass --clean-threshold",
                                  found=columns[2])
        flags.append(float(flag))
    return pd.DataFrame({USER_FIELD: users, ITEM_FIELD: items, CLEAN_FIELD: flags})


def read_test_file(path: Path, summary: ConversionSummary) -> pd.DataFrame:
    """Clean test pairs: ``user \\t item [\\t ...]`` or ``(user, item) \\t negatives...``."""
    users: List[str] = []
    items: List[str] = []
    for number, text in iter_lines(path):
        summary.rows_read += 1
        user, item = parse_test_pair(text, path, number)
        users.append(user)
        items.append(item)
    return pd.DataFrame({USER_FIELD: users, ITEM_FIELD: items, CLEAN_FIELD: 1.0})


def parse_test_pair(text: str, path: Path, number: int) -> Tuple[str, str]:
    columns = text.split("\t")
    first = columns[0].strip()
    if first.startswith("("):
        match = _PAIR_TUPLE.match(first)
        if match is None:
            raise ConversionError("bad (user, item) tuple", file=path, line=number, field="(user, item)",
                                  expected="'(<int>, <int>)'", found=first)
        return match.group(1), match.group(2)
    if len(columns) < 2:
        raise ConversionError("wrong number of columns", file=path, line=number, field="item",
                              expected="'user \\t item' or '(user, item) \\t negatives'", found=text)
    user = parse_int(columns[0], file=path, line=number, field="user")
    item = parse_int(columns[1], file=path, line=number, field="item")
    return str(user), str(item)


def split_stats(splits: Dict[str, pd.DataFrame]) -> Dict[str, object]:
    """Rows and false positives per split, repeated pairs, and test pairs seen in training."""
    stats: Dict[str, object] = {}
    for split, frame in splits.items():
        stats[f"{split} rows"] = len(frame)
        stats[f"{split} false positives"] = int((frame[CLEAN_FIELD] == 0).sum())
        stats[f"{split} repeated pairs (kept)"] = int(frame.duplicated([USER_FIELD, ITEM_FIELD]).sum())
    train_pairs = pd.MultiIndex.from_frame(splits["train"][[USER_FIELD, ITEM_FIELD]])
    test_pairs = pd.MultiIndex.from_frame(splits["test"][[USER_FIELD, ITEM_FIELD]])
    stats["test pairs also in train"] = int(test_pairs.isin(train_pairs).sum())
    return stats
