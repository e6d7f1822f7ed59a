"""recbole_denoise.loss.triplet
#################################
The triplet loss with cosine distance (DUMN, Bian et al., RecSys 2021, eq. 17-19), with
hardest-in-batch or random choice of the positive and negative of each anchor.

Shapes: ``B`` anchors (one per batch row), ``Z`` vector size.
"""

import torch
from torch import nn

TRIPLET_SAMPLINGS = ("hardest", "random")


def cosine_distance(a, b):
    r""":math:`d(a, b) = 1 - \frac{a \cdot b}{\|a\| \|b\|}` (eq. 19), row by row; a zero
    vector is at distance 1 from everything. Input: two [..., Z]. Output: [...]."""
    return 1 - nn.functional.cosine_similarity(a, b, dim=-1, eps=1e-8)


def pairwise_cosine_distance(anchors, candidates):
    """[B, N]: :func:`cosine_distance` of every anchor [B, Z] to every candidate [N, Z]."""
    a = nn.functional.normalize(anchors, dim=-1, eps=1e-8)
    c = nn.functional.normalize(candidates, dim=-1, eps=1e-8)
    return 1 - a @ c.T


def triplet_margin_loss(anchor, positive, negative, margin):
    r""":math:`\max(d(q, s^+) - d(q, s^-) + margin, 0)` (eq. 17), row by row: [B]."""
    return torch.relu(cosine_distance(anchor, positive) - cosine_distance(anchor, negative) + margin)


def hardest_in_batch(anchors, candidates, valid, farthest):
    """For each anchor the valid candidate farthest from it (``farthest`` True: the
    hardest positive) or nearest to it (the hardest negative) by cosine distance.

    Input: ``anchors`` [B, Z], ``candidates`` [N, Z], ``valid`` [N] bool (at least one
    True). Output: [B, Z], rows of ``candidates`` (differentiable in them).
    """
    with torch.no_grad():  # the choice is a selection, not a function to differentiate
        distance = pairwise_cosine_distance(anchors, candidates)
        if farthest:
            chosen = distance.masked_fill(~valid, -torch.inf).argmax(dim=1)
        else:
            chosen = distance.masked_fill(~valid, torch.inf).argmin(dim=1)
    return candidates[chosen]


class MemoryTripletLoss(nn.Module):
    r"""Eq. (17) averaged over a batch's anchors.

    Row ``b`` holds an anchor (a memory read, eq. 18), its own positive and negative
    samples (e.g. one item drawn from the user's clicks and one from her unclicks) and
    their validity (False where the user has no event of that kind). An anchor counts
    when both of its own samples are valid. Then

    - ``random``: its own samples are its positive and negative (the paper's RS);
    - ``hardest``: its positive is the valid positive sample of the batch farthest from
      it, its negative the valid negative sample nearest to it (hardest-in-batch by
      cosine, as in the paper's DUMN); samples of every row of the batch compete.

    The result is the mean of eq. (17) over the counted anchors, 0 (with a gradient
    path) when none counts.
    """

    def __init__(self, margin, sampling="hardest"):
        super().__init__()
        if sampling not in TRIPLET_SAMPLINGS:
            raise ValueError(f"triplet_sampling = {sampling!r}; expected one of {TRIPLET_SAMPLINGS}")
        self.margin = margin
        self.sampling = sampling

    def forward(self, anchors, positives, positive_valid, negatives, negative_valid):
        counted = positive_valid & negative_valid
        if not bool(counted.any()):
            return anchors.sum() * 0.0
        if self.sampling == "hardest":
            positives = hardest_in_batch(anchors, positives, positive_valid, farthest=True)
            negatives = hardest_in_batch(anchors, negatives, negative_valid, farthest=False)
        losses = triplet_margin_loss(anchors, positives, negatives, self.margin)
        return losses[counted].mean()
