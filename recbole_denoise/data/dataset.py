"""recbole_denoise.data.dataset
################################
Datasets of the package. ``DenoiseDataset`` is RecBole's ``Dataset`` plus the
per-interaction noise ground truth that the ADT protocol needs.
"""

import numpy as np
from recbole.data.dataset import Dataset
from recbole.utils import FeatureSource, FeatureType, set_color


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
        self.field2type[self.clean_field] = FeatureType.FLOAT
        self.field2source[self.clean_field] = FeatureSource.INTERACTION
        self.field2seqlen[self.clean_field] = 1
        n_noisy = int((values < minimum).sum())
        self.logger.info(
            set_color("clean flag", "blue")
            + f": [{self.clean_field}] = {field} >= {minimum}; "
            f"{n_noisy} of {len(values)} interactions are false positives"
        )

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
