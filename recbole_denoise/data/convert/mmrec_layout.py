"""Converter for the MMRec toolbox layout (one labelled ``.inter`` file and item feature arrays).

Source: MMRec, a multimodal recommendation toolbox, Zhou, "MMRec: Simplifying Multimodal
Recommendation", ACM MM Asia workshops 2023 (https://github.com/enoche/MMRec); its
processed Amazon datasets (baby, sports, clothing, ...) come in this layout.

Raw layout read (``--raw`` is the ``<ds>.inter`` file or the folder holding exactly one
``.inter`` file; the feature files sit beside it):

- ``<ds>.inter``: tab-separated with a header line naming the columns ``userID``,
  ``itemID``, ``rating``, ``timestamp``, ``x_label`` (any order; a ``:type`` suffix on a
  name is ignored); ids are non-negative integers, ``x_label`` 0 / 1 / 2 = train / valid /
  test. ``userID``, ``itemID`` and ``x_label`` are required; ``rating`` and ``timestamp``
  are kept when present.
- ``image_feat.npy`` (4096-d) and ``text_feat.npy`` (384-d, all-MiniLM-L6-v2 over
  title, brand and categories): float arrays, row i = item i; each optional. They are
  plain numeric arrays, loaded without pickle.

Output: ``<name>.train.inter``, ``.valid.inter``, ``.test.inter`` with ``user_id:token
item_id:token [rating:float] [timestamp:float]`` (the tokens are MMRec's integer ids as
text), read through ``benchmark_filename: [train, valid, test]``; modalities ``image``
and ``text`` in the multimodal feature convention
(:mod:`recbole_denoise.data.convert.features`), every feature row written; GRCN's
evaluation protocol in the yaml (:data:`.protocols.GRCN_PROTOCOL`: full ranking,
Precision, Recall and NDCG at 10, Recall@10 for validation), as for every multimodal
dataset here. MMRec's own protocol (Recall, NDCG, Precision, MAP at 5, 10, 20, 50;
Recall@20) can be set in a config file of the user's, which overrides the yaml.

Rows: a malformed line (wrong column count, an id that is not a non-negative integer,
x_label not 0/1/2, rating / timestamp not a number) is an error naming the file, line
and field. Dropped, with a reason: repeated (user, item) pairs within a split (the first
is kept), and, as MMRec does by default (``filter_out_cod_start_users``), valid / test
rows of users with no training row (``--keep-cold-start-users`` keeps them). A feature
array whose row count differs from max itemID + 1 is an error naming the file and both
counts.
"""

import argparse
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import pandas as pd

from .features import DenseModality, as_dense_matrix, describe, load_npy, modality_files, require_feature_rows
from .protocols import grcn_protocol
from .writer import (
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

SOURCE = "mmrec"
DESCRIPTION = "MMRec layout (<ds>.inter with x_label, image_feat.npy, text_feat.npy)"

FEATURE_FILES = {"image_feat.npy": "image", "text_feat.npy": "text"}  # file -> modality
SPLIT_LABELS = {0: "train", 1: "valid", 2: "test"}  # x_label -> split
REQUIRED_COLUMNS = ("userID", "itemID", "x_label")
OPTIONAL_COLUMNS = {"rating": "rating", "timestamp": "timestamp"}  # raw column -> atomic field

COLD_START_REASON = "{split}: user without training interactions (MMRec's filter_out_cod_start_users)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--keep-cold-start-users", action="store_true",
                        help="keep valid/test rows of users with no training row (MMRec drops them)")


def run(args: argparse.Namespace) -> ConversionSummary:
    return convert(args.raw, args.out, name=args.name, keep_cold_start_users=args.keep_cold_start_users,
                   overwrite=args.overwrite, quiet=args.quiet)


def convert(
    raw,
    out,
    *,
    name: Optional[str] = None,
    keep_cold_start_users: bool = False,
    overwrite: bool = False,
    quiet: bool = False,
) -> ConversionSummary:
    """Convert the MMRec ``.inter`` file at ``raw`` (or its folder) and its feature arrays into ``out``."""
    summary = start_conversion(SOURCE, raw, out, name=name, overwrite=overwrite, quiet=quiet,
                               options={"keep_cold_start_users": keep_cold_start_users})
    path = find_inter_file(Path(raw))
    rows = read_inter_file(path, summary)
    splits = split_rows(rows, summary)
    if not keep_cold_start_users:
        splits = drop_cold_start_users(splits, summary)
    summary.stats.update({f"{split} rows": len(frame) for split, frame in splits.items()})

    n_items = int(rows["item_index"].max()) + 1
    modalities = read_features(path.parent, n_items)
    summary.stats.update(describe(modalities))
    extra_files, entries = modality_files(summary.dataset, modalities)
    config = grcn_protocol()
    if entries:
        config["item_modalities"] = entries
    types = {USER_FIELD: "token", ITEM_FIELD: "token", **{f: "float" for f in OPTIONAL_COLUMNS.values()
                                                          if f in rows.columns}}
    tables = [AtomicTable(f"{split}.inter", frame, types) for split, frame in splits.items()]
    return finish_conversion(summary, tables, dataset_config=config, overwrite=overwrite, quiet=quiet,
                             extra_files=extra_files)


def find_inter_file(raw: Path) -> Path:
    if raw.is_file():
        return raw
    found = sorted(raw.glob("*.inter"))
    if len(found) != 1:
        raise ConversionError("cannot tell which .inter file to convert; pass the file as --raw", file=raw,
                              expected="exactly one <ds>.inter", found=", ".join(p.name for p in found) or "none")
    return found[0]


def read_header(path: Path):
    """(line number, column name -> position) of the header line."""
    for number, text in iter_lines(path):
        names = [cell.strip().split(":")[0] for cell in text.split("\t")]
        missing = [column for column in REQUIRED_COLUMNS if column not in names]
        if missing:
            raise ConversionError("header lacks a required column", file=path, line=number, field=missing[0],
                                  expected="a tab-separated header with " + ", ".join(REQUIRED_COLUMNS),
                                  found=text)
        return number, {column: names.index(column) for column in names}
    raise ConversionError("empty file", file=path, expected="a header line and interactions")


def read_inter_file(path: Path, summary: ConversionSummary) -> pd.DataFrame:
    """One row per interaction: user_id, item_id, item_index, split, [rating], [timestamp]."""
    header_line, position = read_header(path)
    optional = [column for column in OPTIONAL_COLUMNS if column in position]
    width = len(position)
    columns: Dict[str, List] = {name: [] for name in ("userID", "itemID", "x_label", *optional)}
    for number, text in iter_lines(path):
        if number <= header_line:
            continue
        summary.rows_read += 1
        cells = text.split("\t")
        if len(cells) != width:
            raise ConversionError("wrong number of columns", file=path, line=number, field="columns",
                                  expected=f"{width} tab-separated columns", found=text)
        for column in ("userID", "itemID"):
            columns[column].append(parse_int(cells[position[column]], file=path, line=number, field=column))
        label = parse_int(cells[position["x_label"]], file=path, line=number, field="x_label")
        if label not in SPLIT_LABELS:
            raise ConversionError("bad split label", file=path, line=number, field="x_label",
                                  expected="0 (train), 1 (valid) or 2 (test)", found=cells[position["x_label"]])
        columns["x_label"].append(label)
        for column in optional:
            columns[column].append(parse_number(cells[position[column]], file=path, line=number, field=column))
    if not columns["userID"]:
        raise ConversionError("no interactions after the header", file=path)
    frame = pd.DataFrame({
        USER_FIELD: np.asarray(columns["userID"], dtype=np.int64).astype(str),
        ITEM_FIELD: np.asarray(columns["itemID"], dtype=np.int64).astype(str),
        "item_index": np.asarray(columns["itemID"], dtype=np.int64),
        "split": np.asarray(columns["x_label"]),
    })
    for column in optional:
        frame[OPTIONAL_COLUMNS[column]] = np.asarray(columns[column], dtype=np.float64)
    return frame


def split_rows(rows: pd.DataFrame, summary: ConversionSummary) -> Dict[str, pd.DataFrame]:
    """The rows of each split (file order), repeated (user, item) pairs within a split dropped."""
    splits = {}
    for label, split in SPLIT_LABELS.items():
        part = rows[rows["split"] == label]
        kept = part.drop_duplicates([USER_FIELD, ITEM_FIELD])
        summary.drop(f"{split}: repeated (user, item) pair", len(part) - len(kept))
        splits[split] = kept.drop(columns=["split", "item_index"]).reset_index(drop=True)
    return splits


def drop_cold_start_users(splits: Dict[str, pd.DataFrame], summary: ConversionSummary) -> Dict[str, pd.DataFrame]:
    trained = set(splits["train"][USER_FIELD])
    for split in ("valid", "test"):
        frame = splits[split]
        known = frame[USER_FIELD].isin(trained)
        summary.drop(COLD_START_REASON.format(split=split), int((~known).sum()))
        splits[split] = frame[known].reset_index(drop=True)
    return splits


def read_features(folder: Path, n_items: int) -> List[DenseModality]:
    modalities = []
    for file_name, modality in FEATURE_FILES.items():
        path = folder / file_name
        if path.is_file():
            matrix = as_dense_matrix(load_npy(path), file=path)
            require_feature_rows(path, matrix.shape[0], n_items)
            modalities.append(DenseModality(modality, [str(item) for item in range(n_items)], matrix))
    return modalities
