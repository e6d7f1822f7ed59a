"""Injected noise: random false interactions added to the training split, to measure
how a model weights or drops edges it should not trust (GRCN's robustness study)."""

import numpy as np
import torch
from recbole.data.interaction import Interaction, cat_interactions


def _ensure_clean_field(dataset, splits):
    """Give every split a clean flag of 1 when the dataset has none."""
    field = dataset.clean_field
    if field in dataset.field2type:
        return splits
    dataset.register_clean_field()
    flagged = []
    for split in splits:
        split.inter_feat.update(Interaction({field: torch.ones(len(split.inter_feat))}))
        flagged.append(split)
    return flagged


def inject_random_interactions(dataset, splits, ratio, seed):
    """Add ``ratio * len(train)`` random (user, item) pairs to the training split.

    Users are drawn like the training rows (so active users get more noise), items
    uniformly among the items the user never interacted with in any split. Other
    fields are copied from the training row the user was drawn with. The new rows
    carry ``clean = 0``; every original row keeps its flag (1 when the dataset had
    none), so the clean-flag diagnostics and edge-weight studies see them as false
    positives. Returns the new ``(train, valid, test)`` and the number added.
    """
    train, valid, test = _ensure_clean_field(dataset, list(splits))
    rng = np.random.default_rng(seed)
    inter = train.inter_feat
    n_new = int(round(ratio * len(inter)))
    if n_new == 0:
        return (train, valid, test), 0
    seen = set()
    for split in (train, valid, test):
        users = split.inter_feat[dataset.uid_field].tolist()
        items = split.inter_feat[dataset.iid_field].tolist()
        seen.update(zip(users, items))
    template_rows, new_items = [], []
    while len(new_items) < n_new:
        row = int(rng.integers(len(inter)))
        user = int(inter[dataset.uid_field][row])
        item = int(rng.integers(1, dataset.item_num))
        if (user, item) in seen:
            continue
        seen.add((user, item))
        template_rows.append(row)
        new_items.append(item)
    noise = inter[torch.tensor(template_rows)]
    noise.update(Interaction({
        dataset.iid_field: torch.tensor(new_items),
        dataset.clean_field: torch.zeros(n_new),
    }))
    return (train.copy(cat_interactions([inter, noise])), valid, test), n_new
