"""Item feature files: reading raw arrays safely, and the multimodal feature convention.

Convention (read by the package's dataset class), beside the atomic files in
``dataset/<name>/``, per item modality:

- dense modality: ``<name>.<modality>.npy``, a float32 array (rows, dim) saved with
  ``np.save`` (no pickle), and ``<name>.<modality>.tokens``, one item token per line:
  line r is the item token of row r;
- word-id modality (e.g. Tiktok titles): ``<name>.<modality>_words.npy``, an int64 array
  (nnz, 2) of (row, word id), and ``<name>.<modality>.tokens`` as above;
- the dataset yaml names them under ``item_modalities``::

      item_modalities:
        visual: {file: tiktok.visual.npy, tokens: tiktok.visual.tokens}
        textual: {words: tiktok.textual_words.npy, tokens: tiktok.textual.tokens, n_words: 6820}

Item tokens are the ``item_id:token`` values of the ``.inter`` files. Rows are aligned
with the interactions by token, never by file order, and a converter writes every
feature row it has, also for items without interactions (the dataset drops those).

Reading: ``.npy`` files that hold Python objects (MMGCN's ``val_full.npy``) can only be
loaded by unpickling, which runs code from the file. :func:`load_npy` therefore refuses
them unless the caller trusts the file (``--trust-pickle``). ``.pt`` files are read with
``torch.load(weights_only=True)``, which loads plain tensors and never runs code.
"""

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple, Union

import numpy as np

from .writer import ConversionError, ExtraFile, lines_file, npy_file

TRUST_PICKLE_FLAG = "--trust-pickle"


# --------------------------------------------------------------------------- reading raw arrays


def npy_dtype(path: Path) -> np.dtype:
    """The dtype recorded in a ``.npy`` header, read without loading the array."""
    try:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            if version == (1, 0):
                _, _, dtype = np.lib.format.read_array_header_1_0(handle)
            else:
                _, _, dtype = np.lib.format.read_array_header_2_0(handle)
    except (ValueError, OSError, EOFError) as error:
        raise ConversionError(f"not a readable NumPy .npy file ({error})", file=path) from None
    return dtype


def require_trust_for_pickle(path: Path, trust_pickle: bool) -> None:
    """Refuse, before reading anything, a ``.npy`` object array that the caller does not trust."""
    if npy_dtype(path).hasobject and not trust_pickle:
        raise ConversionError(
            "the file is a pickled object array; loading it unpickles Python objects, which can run "
            f"code from the file, so it is only done for files you trust: pass {TRUST_PICKLE_FLAG} "
            "(trust_pickle=True)",
            file=path, expected="a numeric array or the --trust-pickle flag", found="an object array",
        )


def load_npy(path: Path, *, trust_pickle: bool = False) -> np.ndarray:
    """A ``.npy`` array; object arrays only with ``trust_pickle`` (see the module docstring)."""
    require_trust_for_pickle(path, trust_pickle)
    allow = bool(trust_pickle and npy_dtype(path).hasobject)
    try:
        return np.load(path, allow_pickle=allow)
    except (ValueError, OSError, EOFError, pickle.UnpicklingError) as error:
        raise ConversionError(f"cannot load the array ({error})", file=path) from None


def load_tensor(path: Path) -> np.ndarray:
    """A tensor saved with ``torch.save``, loaded without unpickling, as a NumPy array."""
    import torch  # only the .pt layouts need it

    try:
        value = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ConversionError(
            "cannot be read with torch.load(weights_only=True), the only way this converter reads "
            ".pt files (it never unpickles arbitrary objects); re-save it in a trusted environment "
            f"as a plain tensor: torch.save(tensor, path) ({first_line})",
            file=path, expected="a plain tensor",
        ) from None
    if not isinstance(value, torch.Tensor):
        raise ConversionError("the file does not hold a tensor", file=path,
                              expected="a plain tensor", found=type(value).__name__)
    return value.detach().cpu().numpy()


# --------------------------------------------------------------------------- checks


def require_feature_rows(path: Any, found: int, expected: int) -> None:
    """A feature matrix must have one row per item index implied by the interactions."""
    if found != expected:
        raise ConversionError(
            f"the feature matrix has {found} rows but the interactions imply {expected} items "
            "(max item index + 1)",
            file=path, expected=f"{expected} rows", found=f"{found} rows",
        )


def as_dense_matrix(values: np.ndarray, *, file: Any) -> np.ndarray:
    """A finite float32 matrix (rows, dim) from a raw numeric array."""
    values = np.asarray(values)
    if values.ndim != 2 or not (np.issubdtype(values.dtype, np.number) and not values.dtype.hasobject):
        raise ConversionError("not a numeric matrix", file=file, expected="a 2-d numeric array (rows, dim)",
                              found=f"shape {values.shape}, dtype {values.dtype}")
    matrix = values.astype(np.float32)
    bad = np.flatnonzero(~np.isfinite(matrix).all(axis=1))
    if len(bad):
        raise ConversionError(f"non-finite feature value in row {int(bad[0])} (0-based)", file=file,
                              expected="finite numbers")
    return matrix


# --------------------------------------------------------------------------- the output convention


@dataclass(frozen=True)
class DenseModality:
    """Row r of ``matrix`` (rows, dim) describes the item ``tokens[r]``."""

    name: str
    tokens: Sequence[str]
    matrix: np.ndarray


@dataclass(frozen=True)
class WordModality:
    """Item ``tokens[row]`` has word ``word`` for every (row, word) pair in ``pairs`` (nnz, 2)."""

    name: str
    tokens: Sequence[str]
    pairs: np.ndarray
    n_words: int


Modality = Union[DenseModality, WordModality]


def modality_files(dataset: str, modalities: Sequence[Modality]) -> Tuple[List[ExtraFile], Dict[str, Dict]]:
    """The files of ``modalities`` and the ``item_modalities`` entry of the dataset yaml."""
    files: List[ExtraFile] = []
    entries: Dict[str, Dict] = {}
    for modality in modalities:
        if modality.name in entries:
            raise ValueError(f"modality {modality.name!r} given twice")
        tokens = _checked_tokens(modality)
        tokens_name = f"{dataset}.{modality.name}.tokens"
        if isinstance(modality, DenseModality):
            matrix = _checked_matrix(modality, len(tokens))
            matrix_name = f"{dataset}.{modality.name}.npy"
            files += [npy_file(matrix_name, matrix), lines_file(tokens_name, tokens)]
            entries[modality.name] = {"file": matrix_name, "tokens": tokens_name}
        else:
            pairs = _checked_pairs(modality, len(tokens))
            words_name = f"{dataset}.{modality.name}_words.npy"
            files += [npy_file(words_name, pairs), lines_file(tokens_name, tokens)]
            entries[modality.name] = {"words": words_name, "tokens": tokens_name,
                                      "n_words": int(modality.n_words)}
    return files, entries


def describe(modalities: Sequence[Modality]) -> Dict[str, str]:
    """Summary stats: one readable line per modality."""
    stats = {}
    for modality in modalities:
        if isinstance(modality, DenseModality):
            rows, dim = modality.matrix.shape
            stats[f"{modality.name} features"] = f"{rows} items x {dim}"
        else:
            rows = len(np.unique(modality.pairs[:, 0])) if len(modality.pairs) else 0
            stats[f"{modality.name} features"] = (
                f"{len(modality.pairs)} (item, word) pairs over {rows} of {len(modality.tokens)} items, "
                f"{modality.n_words} words")
    return stats


def _checked_tokens(modality: Modality) -> List[str]:
    tokens = [str(token) for token in modality.tokens]
    bad = [t for t in tokens if not t or any(ch.isspace() for ch in t) or t.startswith('"')]
    if bad:
        raise ConversionError("bad item token for a feature row", field=modality.name,
                              expected="non-empty tokens without spaces", found=bad[0])
    if len(set(tokens)) != len(tokens):
        seen = set()
        repeated = next(t for t in tokens if t in seen or seen.add(t))
        raise ConversionError("two feature rows for the same item", field=modality.name,
                              expected="one row per item token", found=repeated)
    return tokens


def _checked_matrix(modality: DenseModality, rows: int) -> np.ndarray:
    matrix = np.ascontiguousarray(modality.matrix, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[0] != rows:
        raise ValueError(f"modality {modality.name!r}: matrix shape {matrix.shape} does not match "
                         f"{rows} tokens")
    if not np.isfinite(matrix).all():
        raise ConversionError("non-finite feature value", field=modality.name, expected="finite numbers")
    return matrix


def _checked_pairs(modality: WordModality, rows: int) -> np.ndarray:
    pairs = np.ascontiguousarray(modality.pairs, dtype=np.int64).reshape(-1, 2)
    if len(pairs) and (pairs[:, 0].min() < 0 or pairs[:, 0].max() >= rows):
        raise ValueError(f"modality {modality.name!r}: word rows outside the {rows} tokens")
    words = pairs[:, 1]
    outside = words[(words < 0) | (words >= modality.n_words)]
    if len(outside):
        raise ConversionError("word id outside the vocabulary", field=modality.name,
                              expected=f"ids from 0 to {modality.n_words - 1}", found=int(outside[0]))
    return pairs
