"""Agreement of clip-level scores with a planted truth (the micro-video simulator).

FRAME (SIGIR 2023, Section 4.5, Fig. 6) claims its clip scores locate where a user
skips. On simulated data the continuation logit of every (user, video, clip) is known
(:func:`recbole_denoise.data.simulate_microvideo.planted_clip_logits`), so the claim is
checkable: these functions compare a model's ``[n_views, N_c]`` clip scores with it.
"""

import numpy as np
import torch
from scipy.stats import rankdata, spearmanr

from recbole_denoise.data.simulate_microvideo import planted_clip_logits


@torch.no_grad()
def clip_scores_and_truth(model, dataset):
    """A clip-level model's scores (``model.clip_scores``, e.g. FRAME) and the planted
    continuation logits for every view of ``dataset`` (a split of simulated data),
    ``[n_views, N_c]`` each, as NumPy arrays."""
    users, items = dataset.inter_feat[dataset.uid_field], dataset.inter_feat[dataset.iid_field]
    model.eval()
    scores, _ = model.clip_scores(users.to(model.device), items.to(model.device))
    return scores.cpu().numpy(), planted_clip_logits(dataset, users.numpy(), items.numpy())


def pooled_spearman(scores, truth) -> float:
    """Spearman rank correlation over every (view, clip) cell: do higher scores go with
    higher planted continuation, across users and videos?"""
    scores, truth = _pair(scores, truth)
    return float(spearmanr(scores.ravel(), truth.ravel()).statistic)


def within_view_spearman(scores, truth) -> float:
    """Mean over views of the Spearman correlation across the view's ``N_c`` clips: does
    the model rank the clips of one video as the user's planted interest does? Views
    whose scores or truth are constant over clips have no rank order and are left out."""
    scores, truth = _pair(scores, truth)
    score_ranks = np.apply_along_axis(rankdata, 1, scores)
    truth_ranks = np.apply_along_axis(rankdata, 1, truth)
    score_ranks -= score_ranks.mean(1, keepdims=True)
    truth_ranks -= truth_ranks.mean(1, keepdims=True)
    norm = np.sqrt((score_ranks ** 2).sum(1) * (truth_ranks ** 2).sum(1))
    ranked = norm > 0
    if not ranked.any():
        return float("nan")
    return float(((score_ranks * truth_ranks).sum(1)[ranked] / norm[ranked]).mean())


def _pair(scores, truth):
    scores = np.asarray(scores, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    if scores.shape != truth.shape or scores.ndim != 2:
        raise ValueError(f"expected clip scores and truth of one shape (n_views, N_c), got {scores.shape} "
                         f"and {truth.shape}")
    return scores, truth
