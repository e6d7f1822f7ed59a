"""recbole_denoise.data.dataset
################################
Datasets of the package. ``DenoiseDataset`` is RecBole's ``Dataset`` plus the
per-interaction noise ground truth that the ADT protocol needs.
"""

import os

import numpy as np
import torch
from recbole.data.dataset import Dataset
from recbole.utils import FeatureSource, FeatureType, set_color

# values of missing_feature_fill: items without a feature row get the known rows' mean, or zeros
MISSING_FEATURE_FILLS = ("mean", "zero")


class DenoiseDataset(Dataset):
    """RecBole ``Dataset`` that carries a clean / false-positive flag per interaction.

    The flag lives in the float field ``config['clean_field']`` (1 = clean, 0 = false
    positive). It is read from the atomic files when present, or derived from another
    field by ``clean_threshold: {field: minimum}`` (ml-100k: ``{rating: 3}``, the ADT
    paper's rule for Yelp and Amazon-book: rating < 3 is a false positive).

    The flag is ground truth for evaluation and diagnostics only: it, and the fields
    it is derived from, are hidden from the feature fields that models embed, so no
    model can train on them.
    """

    def __init__(self, config):
        self.clean_field = config["clean_field"]
        super().__init__(config)

    def _data_processing(self):
        self._derive_clean_flag()
        super()._data_processing()

    def _derive_clean_flag(self):
        rule = self.config["clean_threshold"]
        if self.inter_feat is None:
            return
        if self.clean_field in self.inter_feat:
            return
        if not rule:
            return
        if not isinstance(rule, dict) or len(rule) != 1:
            raise ValueError(
                f"clean_threshold must be one {{field: minimum}} pair, got {rule!r}"
            )
        (field, minimum), = rule.items()
        if field not in self.inter_feat:
            raise ValueError(
                f"clean_threshold names field [{field}], which is not loaded in "
                f"inter_feat (loaded: {list(self.inter_feat.columns)}); add it to load_col"
            )
        values = self.inter_feat[field].to_numpy(dtype=np.float64)
        self.inter_feat[self.clean_field] = (values >= minimum).astype(np.float64)
        self.register_clean_field()
        n_noisy = int((values < minimum).sum())
        self.logger.info(
            set_color("clean flag", "blue")
            + f": [{self.clean_field}] = {field} >= {minimum}; "
            f"{n_noisy} of {len(values)} interactions are false positives"
        )

    def register_clean_field(self):
        """Declare the flag as a float interaction field (after adding its column)."""
        self.field2type[self.clean_field] = FeatureType.FLOAT
        self.field2source[self.clean_field] = FeatureSource.INTERACTION
        self.field2seqlen[self.clean_field] = 1

    @property
    def has_clean_flag(self):
        return self.clean_field in self.field2type

    def _normalize(self):
        # the flag is a label, not a feature: keep it 0/1 under normalize_all
        if not self.has_clean_flag or self.clean_field not in self.inter_feat:
            return super()._normalize()
        flag = self.inter_feat[self.clean_field].copy()
        super()._normalize()
        self.inter_feat[self.clean_field] = flag

    def ground_truth_fields(self):
        """The flag and the fields it is derived from (``clean_threshold``, and
        ``ground_truth_fields`` such as a converter's rating or dwell time)."""
        hidden = {self.clean_field}
        hidden.update(self.config["ground_truth_fields"] or [])
        hidden.update((self.config["clean_threshold"] or {}).keys())
        return hidden

    def fields(self, ftype=None, source=None):
        names = super().fields(ftype=ftype, source=source)
        # Only models ask with ``source`` (to pick the fields they embed); hide the
        # ground truth there so that it can never leak into training as a feature.
        if source is not None:
            hidden = self.ground_truth_fields()
            names = [name for name in names if name not in hidden]
        return names

    def clean_mask(self):
        """Boolean tensor over ``inter_feat``: True for clean interactions."""
        if not self.has_clean_flag:
            raise ValueError(
                f"dataset [{self.dataset_name}] has no clean flag [{self.clean_field}]: "
                f"load it from the atomic files or set clean_threshold"
            )
        return self.inter_feat[self.clean_field] > 0.5


class GraphDataset(DenoiseDataset):
    """``DenoiseDataset`` that also gives the user-item graph of its interactions.

    A model receives the training split, so the graph holds training edges only.
    Node space of ``bipartite_edge_index``: users ``[0, user_num)`` then items offset
    by ``user_num`` (RecBole's padding ids 0 stay isolated nodes).
    """

    def interaction_pairs(self):
        """``(users, items)``: LongTensors of the distinct interacted pairs, sorted by
        user then item (duplicates would count an edge twice in a propagation)."""
        users = self.inter_feat[self.uid_field].long()
        items = self.inter_feat[self.iid_field].long()
        keys = torch.unique(users * self.item_num + items)  # sorted
        return keys // self.item_num, keys % self.item_num

    def bipartite_edge_index(self):
        """PyG ``edge_index`` [2, 2E]: user -> item edges, then item -> user edges."""
        users, items = self.interaction_pairs()
        items = items + self.user_num
        return torch.stack([torch.cat([users, items]), torch.cat([items, users])])


class MultimodalDataset(GraphDataset):
    """``GraphDataset`` with item content features, one matrix per modality.

    The dataset yaml names the modalities (files beside the atomic files)::

        item_modalities:
          visual: {file: tiktok.visual.npy, tokens: tiktok.visual.tokens}
          textual: {words: tiktok.textual_words.npy, tokens: tiktok.textual.tokens, n_words: 6820}

    ``file``: float array (rows, dim); ``words``: int array (nnz, 2) of (row, word
    id); ``tokens``: one item token per line, line r naming the item of row r. Rows
    are placed by item token after RecBole's remapping and filtering, never by file
    order. Rows of items not in the dataset are dropped; items without a row get
    ``missing_feature_fill`` (``mean`` of the known rows, or ``zero``; a word
    modality leaves them without words); both counts are logged.

    After loading: ``item_features[name]`` is a FloatTensor ``[item_num, dim]`` and
    ``item_words[name]`` a pair ``(LongTensor [2, nnz] of (item id, word id), n_words)``.
    """

    def _data_processing(self):
        super()._data_processing()
        self.item_features, self.item_words = {}, {}
        for name, spec in (self.config["item_modalities"] or {}).items():
            self._load_modality(name, spec)

    def _modality_path(self, name, spec, key):
        if key not in spec:
            raise ValueError(f"item_modalities.{name}: missing key [{key}] (got {sorted(spec)})")
        path = os.path.join(self.dataset_path, spec[key])
        if not os.path.isfile(path):
            raise FileNotFoundError(f"item_modalities.{name}.{key}: no file {path}")
        return path

    def _item_ids_of_rows(self, name, spec):
        """Internal item id of every feature row (-1 for tokens not in the dataset)."""
        path = self._modality_path(name, spec, "tokens")
        with open(path, encoding="utf-8") as handle:
            tokens = [line.rstrip("\n") for line in handle]
        token_to_id = self.field2token_id[self.iid_field]
        return path, np.array([token_to_id.get(token, -1) for token in tokens], dtype=np.int64)

    def _load_modality(self, name, spec):
        if "file" in spec:
            matrix = np.load(self._modality_path(name, spec, "file"), allow_pickle=False)
            if matrix.ndim != 2:
                raise ValueError(f"item_modalities.{name}: expected a 2-d array, got shape {matrix.shape}")
            path, ids = self._item_ids_of_rows(name, spec)
            if len(ids) != len(matrix):
                raise ValueError(
                    f"item_modalities.{name}: {path} lists {len(ids)} item tokens but "
                    f"{spec['file']} has {len(matrix)} rows; expected one token per row"
                )
            self.item_features[name] = self._align_dense(name, matrix, ids)
        elif "words" in spec:
            pairs = np.load(self._modality_path(name, spec, "words"), allow_pickle=False)
            if pairs.ndim != 2 or pairs.shape[1] != 2:
                raise ValueError(f"item_modalities.{name}: words must be (nnz, 2), got {pairs.shape}")
            path, ids = self._item_ids_of_rows(name, spec)
            if len(pairs) and int(pairs[:, 0].max()) >= len(ids):
                raise ValueError(
                    f"item_modalities.{name}: {spec['words']} refers to row "
                    f"{int(pairs[:, 0].max())} but {path} lists only {len(ids)} item tokens"
                )
            self.item_words[name] = self._align_words(name, pairs, ids, spec.get("n_words"))
        else:
            raise ValueError(f"item_modalities.{name}: give either [file] or [words]")

    def _log_alignment(self, name, rows, known, covered):
        self.logger.info(
            set_color(f"modality [{name}]", "blue")
            + f": {rows} rows, {rows - known} of items not in the dataset dropped; "
            f"{covered} of {self.item_num - 1} items have a row"
        )

    def _align_dense(self, name, matrix, ids):
        known = ids >= 0
        features = np.zeros((self.item_num, matrix.shape[1]), dtype=np.float32)
        features[ids[known]] = matrix[known]
        has_row = np.zeros(self.item_num, dtype=bool)
        has_row[ids[known]] = True
        has_row[0] = True  # padding item
        missing = ~has_row
        fill = self.config["missing_feature_fill"] or "mean"
        if missing.any():
            if fill == "mean":
                features[missing] = matrix[known].mean(axis=0) if known.any() else 0.0
            elif fill not in MISSING_FEATURE_FILLS:
                raise ValueError(f"missing_feature_fill must be one of {MISSING_FEATURE_FILLS}, got {fill!r}")
            self.logger.info(
                set_color(f"modality [{name}]", "blue")
                + f": {int(missing.sum())} items without a row, filled with {fill}"
            )
        self._log_alignment(name, len(matrix), int(known.sum()), int(has_row[1:].sum()))
        return torch.from_numpy(features)

    def _align_words(self, name, pairs, ids, n_words):
        item_ids = ids[pairs[:, 0]]
        known = item_ids >= 0
        n_words = int(n_words) if n_words else int(pairs[:, 1].max()) + 1
        edges = torch.from_numpy(np.stack([item_ids[known], pairs[known, 1]]).astype(np.int64))
        covered = len(np.unique(item_ids[known]))
        self._log_alignment(name, int(ids.size), int((ids >= 0).sum()), covered)
        return edges, n_words
