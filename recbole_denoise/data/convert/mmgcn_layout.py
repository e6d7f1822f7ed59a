"""Converter for the MMGCN / GRCN ``.npy`` layout (Movielens, Tiktok, Kwai), with item features.

Source: the preprocessed data of Wei et al., "MMGCN: Multi-modal Graph Convolution
Network for Personalized Recommendation of Micro-video", ACM MM 2019
(https://github.com/weiyinwei/MMGCN), reused by Wei et al., "Graph-Refined Convolutional
Network for Multimedia Recommendation with Implicit Feedback" (GRCN), ACM MM 2020
(https://github.com/weiyinwei/GRCN).

Raw layout read (``--raw`` is the folder), users and items in one id space, items
offset by the number of users ``n_users``:

- ``train.npy``: an (E, 2) integer array of ``[user, item + n_users]`` rows (required);
- ``val_full.npy``, ``test_full.npy``: object arrays, one row per user,
  ``[user, item + n_users, item + n_users, ...]`` (required);
- item features, row i = item i, all optional: Movielens ``FeatureVideo_normal.npy``
  (2048-d, visual), ``FeatureAudio_avg_normal.npy`` (128-d, acoustic),
  ``FeatureText_stl_normal.npy`` (100-d, textual); Tiktok / Kwai ``feat_v.pt`` (visual),
  ``feat_a.pt`` (acoustic), and Tiktok ``feat_t.pt``, an int64 tensor (2, nnz) of
  (item index, word id) pairs, one per word occurrence (textual, as word ids; a float
  ``feat_t.pt`` is read as a dense textual matrix).

Pickle caveat: ``val_full.npy`` / ``test_full.npy`` are pickled object arrays, and
loading them unpickles Python objects, which can run code from the file. They are
read only with ``--trust-pickle`` (``trust_pickle=True``): pass it only for files you
trust, such as your own download from the authors' links. Without it the conversion
stops before reading anything. ``.pt`` files are read with
``torch.load(weights_only=True)`` (plain tensors only, no code); a file that needs more
is an error, never unpickled.

Offset: ``--n-users N`` gives the item offset; without it, it is inferred as the
smallest item value in ``train.npy``, which is right when item 0 has a training
interaction (true of the authors' files). Every user must be < offset <= every item.
An offset inferred too high would shift item indices; a feature matrix then no longer
has one row per item and the row-count check below stops the conversion.

Output: ``<name>.train.inter``, ``.valid.inter``, ``.test.inter`` with
``user_id:token item_id:token`` (item token = item index without the offset), read by
RecBole through ``benchmark_filename: [train, valid, test]``; one feature file pair per
modality (see :mod:`recbole_denoise.data.convert.features`, all feature rows are written,
also those of items without interactions) named under ``item_modalities`` in the yaml;
and the GRCN protocol: Recall, NDCG, Precision at 10, Recall@10 for validation.

Rows: one "row read" is one (user, item) pair of a split, plus one for each val / test
row that lists no item. Dropped, with a reason per split: repeated (user, item) pairs
within a split (the first is kept), and val / test rows with no item. Values that
break the layout (not integers, a user >= offset, an item < offset) are errors naming
the file, the 0-based row and the field; so is a feature matrix whose row count differs
from the number of items implied by the interactions (max item index + 1).
"""

import argparse
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import pandas as pd

from .features import (
    DenseModality,
    WordModality,
    as_dense_matrix,
    describe,
    load_npy,
    load_tensor,
    modality_files,
    require_feature_rows,
    require_trust_for_pickle,
)
from .protocols import grcn_protocol
from .writer import (
    ITEM_FIELD,
    USER_FIELD,
    AtomicTable,
    ConversionError,
    ConversionSummary,
    finish_conversion,
    start_conversion,
)

SOURCE = "mmgcn"
DESCRIPTION = "MMGCN / GRCN .npy layout (train.npy, val_full.npy, test_full.npy, item features)"

TRAIN_FILE = "train.npy"
RANKING_FILES = {"valid": "val_full.npy", "test": "test_full.npy"}  # split -> pickled object array
# feature file -> modality; Movielens uses .npy, Tiktok and Kwai .pt
FEATURE_FILES = {
    "FeatureVideo_normal.npy": "visual",
    "FeatureAudio_avg_normal.npy": "acoustic",
    "FeatureText_stl_normal.npy": "textual",
    "feat_v.pt": "visual",
    "feat_a.pt": "acoustic",
    "feat_t.pt": "textual",
}


_INTER_TYPES = {USER_FIELD: "token", ITEM_FIELD: "token"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--n-users", type=int, metavar="N",
                        help="the item offset (number of users); default: the smallest item value in train.npy")
    parser.add_argument("--trust-pickle", action="store_true",
                        help="allow unpickling val_full.npy / test_full.npy (object arrays): "
                        "only for files you trust, unpickling can run code")


def run(args: argparse.Namespace) -> ConversionSummary:
    return convert(args.raw, args.out, name=args.name, n_users=args.n_users, trust_pickle=args.trust_pickle,
                   overwrite=args.overwrite, quiet=args.quiet)


def convert(
    raw,
    out,
    *,
    name: Optional[str] = None,
    n_users: Optional[int] = None,
    trust_pickle: bool = False,
    overwrite: bool = False,
    quiet: bool = False,
) -> ConversionSummary:
    """Convert the MMGCN-layout folder ``raw`` into ``out`` (see the module docstring)."""
    summary = start_conversion(SOURCE, raw, out, name=name, overwrite=overwrite, quiet=quiet,
                               options={"n_users": n_users, "trust_pickle": trust_pickle})
    folder = Path(raw)
    paths = locate_split_files(folder)
    for split in RANKING_FILES:  # fail before any reading when the flag is missing
        require_trust_for_pickle(paths[split], trust_pickle)

    train = read_train_pairs(paths["train"])
    rankings = {split: read_ranking_rows(paths[split], trust_pickle) for split in RANKING_FILES}
    offset = item_offset(train, paths["train"], n_users)
    check_ids(paths["train"], train[:, 0], train[:, 1], offset, n_users)

    pairs = {"train": (train[:, 0], train[:, 1] - offset)}
    for split, rows in rankings.items():
        users, items = flatten_rows(rows, split, summary)
        check_ids(paths[split], users, items, offset, n_users)
        pairs[split] = (users, items - offset)
    n_items = max(int(items.max()) for _, items in pairs.values() if len(items)) + 1
    splits = {split: pairs_frame(users, items, split, summary) for split, (users, items) in pairs.items()}
    summary.stats["item offset (n_users)"] = f"{offset} ({'given' if n_users else 'inferred from train.npy'})"
    summary.stats["items implied (max item index + 1)"] = n_items
    summary.stats.update({f"{split} rows": len(frame) for split, frame in splits.items()})

    modalities = read_features(folder, n_items)
    summary.stats.update(describe(modalities))
    extra_files, entries = modality_files(summary.dataset, modalities)
    config = grcn_protocol()
    if entries:
        config["item_modalities"] = entries
    tables = [AtomicTable(f"{split}.inter", frame, _INTER_TYPES) for split, frame in splits.items()]
    return finish_conversion(summary, tables, dataset_config=config, overwrite=overwrite, quiet=quiet,
                             extra_files=extra_files)


def locate_split_files(folder: Path) -> Dict[str, Path]:
    if not folder.is_dir():
        raise ConversionError("the MMGCN layout is a folder", file=folder,
                              expected=f"a folder holding {TRAIN_FILE} and {', '.join(RANKING_FILES.values())}")
    paths = {"train": folder / TRAIN_FILE, **{split: folder / f for split, f in RANKING_FILES.items()}}
    for split, path in paths.items():
        if not path.is_file():
            what = ("(E, 2) array of [user, item + n_users] training pairs" if split == "train"
                    else "object array of [user, item + n_users, ...] rows")
            raise ConversionError(f"required file missing: the {split} split of the MMGCN layout",
                                  file=path, expected=f"{path.name}, an {what}")
    return paths


def read_train_pairs(path: Path) -> np.ndarray:
    """``train.npy`` as an (E, 2) int64 array; it holds numbers only, so no pickle is allowed."""
    pairs = load_npy(path, trust_pickle=False)
    if pairs.ndim != 2 or pairs.shape[1] != 2 or not np.issubdtype(pairs.dtype, np.integer):
        raise ConversionError("bad training array", file=path, expected="an (E, 2) integer array",
                              found=f"shape {pairs.shape}, dtype {pairs.dtype}")
    if len(pairs) == 0:
        raise ConversionError("no training pairs", file=path, expected="at least one [user, item] row")
    return pairs.astype(np.int64)


def read_ranking_rows(path: Path, trust_pickle: bool) -> List[np.ndarray]:
    """The rows of ``val_full.npy`` / ``test_full.npy``, each an int64 vector [user, items...]."""
    array = load_npy(path, trust_pickle=trust_pickle)
    if array.ndim not in (1, 2):  # 1-d object array of ragged rows, or a 2-d int array (no pickle)
        raise ConversionError("bad ranking array", file=path, expected="one row per user",
                              found=f"shape {array.shape}")
    checked = []
    for index, row in enumerate(array):
        values = np.asarray(row)
        if values.ndim != 1 or len(values) == 0 or not _all_integers(values):
            raise ConversionError(f"bad row {index} (0-based)", file=path, field="[user, item, ...]",
                                  expected="a non-empty sequence of integers", found=row)
        checked.append(values.astype(np.int64))
    return checked


def _all_integers(values: np.ndarray) -> bool:
    if np.issubdtype(values.dtype, np.integer):
        return True
    if values.dtype == object:
        return all(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in values)
    return False


def item_offset(train: np.ndarray, path: Path, n_users: Optional[int]) -> int:
    """``n_users`` when given, else the smallest item value of ``train.npy``."""
    if n_users is not None:
        if n_users <= 0:
            raise ConversionError("bad --n-users", field="n_users", expected="a positive integer", found=n_users)
        return int(n_users)
    offset = int(train[:, 1].min())
    if offset <= 0:
        raise ConversionError("cannot infer the item offset: the smallest item value is not positive",
                              file=path, field="item", expected="items stored as item + n_users", found=offset)
    return offset


def check_ids(path: Path, users: np.ndarray, items: np.ndarray, offset: int, n_users: Optional[int]) -> None:
    """Every user < offset <= every item, else an error naming the first bad row."""
    source = "--n-users" if n_users is not None else "inferred from train.npy"
    for field, bad in (("user", (users < 0) | (users >= offset)), ("item", items < offset)):
        if bad.any():
            index = int(np.flatnonzero(bad)[0])
            value = int((users if field == "user" else items)[index])
            expected = (f"a user id from 0 to {offset - 1}" if field == "user"
                        else f"an item value >= the offset {offset}")
            raise ConversionError(
                f"value {index} (0-based, in file order) breaks the id layout; the offset n_users = {offset} "
                f"is {source}", file=path, field=field, expected=expected, found=value,
            )


def flatten_rows(rows: List[np.ndarray], split: str, summary: ConversionSummary) -> Tuple[np.ndarray, np.ndarray]:
    """(user, item) pairs of ranking rows; rows with no item are counted as dropped."""
    kept = [row for row in rows if len(row) > 1]
    empty = len(rows) - len(kept)
    summary.rows_read += empty
    summary.drop(f"{split}: row with no item", empty)
    if not kept:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    users = np.concatenate([np.full(len(row) - 1, row[0]) for row in kept])
    items = np.concatenate([row[1:] for row in kept])
    return users, items


def pairs_frame(users: np.ndarray, items: np.ndarray, split: str, summary: ConversionSummary) -> pd.DataFrame:
    """Token frame of one split; repeated (user, item) pairs are dropped (the first is kept)."""
    summary.rows_read += len(users)
    frame = pd.DataFrame({USER_FIELD: users, ITEM_FIELD: items}).drop_duplicates()
    summary.drop(f"{split}: repeated (user, item) pair", len(users) - len(frame))
    return frame.astype(str).reset_index(drop=True)


def read_features(folder: Path, n_items: int) -> List:
    """The item modalities found in ``folder``, each checked against ``n_items``."""
    found: Dict[str, Path] = {}
    for file_name, modality in FEATURE_FILES.items():
        path = folder / file_name
        if path.is_file():
            if modality in found:
                raise ConversionError(f"two files for the {modality} modality", file=path,
                                      expected="one feature file per modality", found=found[modality].name)
            found[modality] = path
    return [read_feature_file(path, modality, n_items) for modality, path in found.items()]


def read_feature_file(path: Path, modality: str, n_items: int):
    values = load_npy(path) if path.suffix == ".npy" else load_tensor(path)
    tokens = [str(item) for item in range(n_items)]
    if np.issubdtype(values.dtype, np.integer) and values.ndim == 2 and values.shape[0] == 2:
        return word_modality(path, modality, values, n_items, tokens)
    matrix = as_dense_matrix(values, file=path)
    require_feature_rows(path, matrix.shape[0], n_items)
    return DenseModality(modality, tokens, matrix)


def word_modality(path: Path, modality: str, values: np.ndarray, n_items: int, tokens: List[str]) -> WordModality:
    """(2, nnz) (item index, word id) pairs; items without a word simply have no pair.

    Repeated pairs are kept (a word used twice in a title is two pairs, as in the authors'
    tensor); the pairs are sorted so that the output does not depend on the raw order.
    """
    pairs = values.T.astype(np.int64)
    pairs = pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]
    if len(pairs) == 0:
        raise ConversionError("no (item, word) pairs", file=path, expected="a (2, nnz) tensor with nnz > 0")
    if pairs.min() < 0:
        raise ConversionError("negative item index or word id", file=path, expected="values >= 0",
                              found=int(pairs.min()))
    rows_found = int(pairs[:, 0].max()) + 1
    if rows_found > n_items:
        require_feature_rows(path, rows_found, n_items)
    return WordModality(modality, tokens, pairs, n_words=int(pairs[:, 1].max()) + 1)
