"""Denoising losses of ADT (Wang et al., "Denoising Implicit Feedback for
Recommendation", WSDM 2021, Sec. 3.3), usable with any model that gives per-sample scores.

Pointwise (binary cross-entropy on logits):
- ``bce``: plain BCE, the L_CE of eq. (1).
- ``truncated_bce`` (T-CE), eq. (2)-(3): drop the large-loss positives.
- ``reweighted_bce`` (R-CE), eq. (4)-(6): down-weight hard samples.

Pairwise, the extension the paper names (Sec. 3.3: the two paradigms "formulate
various recommendation loss functions, e.g. CE loss, square loss, and BPR loss"):
``truncated_bpr`` and ``reweighted_bpr``.

Each function returns a ``DenoisedLoss``: the scalar to optimise, the unreduced
per-sample loss (before truncation or weights, for diagnostics) and the mask of the
samples kept.
"""

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F


class DenoisedLoss(NamedTuple):
    loss: torch.Tensor  # scalar to back-propagate
    per_sample: torch.Tensor  # plain loss of every sample, detached
    kept: torch.Tensor  # bool mask: samples that entered ``loss``


def _all_kept(per_sample):
    return torch.ones_like(per_sample, dtype=torch.bool)


def bce(logits, labels):
    """Plain binary cross-entropy on logits, mean over the batch (L_CE of ADT eq. 1)."""
    per_sample = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    return DenoisedLoss(per_sample.mean(), per_sample.detach(), _all_kept(per_sample))


def number_to_drop(batch_size, drop_rate):
    """Samples T-CE drops from a batch: ``floor(drop_rate * batch_size)``.

    As in the authors' code the count is a fraction of the whole batch (positives and
    sampled negatives), so with one negative per positive ``drop_rate = 0.2`` drops up
    to 40% of the positives. The epsilon guards against float error (0.7 * 10).
    """
    return int(math.floor(drop_rate * batch_size + 1e-9))


def truncated_bce(logits, labels, drop_rate):
    r"""Truncated cross-entropy, T-CE (ADT eq. 2).

    :math:`L_{T-CE}(u,i) = 0` if :math:`L_{CE}(u,i) > \tau` and :math:`\bar y_{ui}=1`,
    else :math:`L_{CE}(u,i)`, with :math:`\tau` the threshold that drops the
    ``drop_rate`` fraction of the batch. Only positives are ever dropped: samples are
    ranked by ``loss * label``; if the batch has fewer positives than the count to
    drop, all positives with a non-zero loss are dropped and no negative is.
    The loss is the mean over the kept samples.
    """
    per_sample = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    n_drop = number_to_drop(per_sample.numel(), drop_rate)
    kept = _all_kept(per_sample)
    if n_drop > 0:
        positive_loss = (per_sample * labels).detach()
        n_drop = min(n_drop, int((positive_loss > 0).sum()))
        dropped = torch.topk(positive_loss, n_drop).indices
        kept[dropped] = False
    return DenoisedLoss(per_sample[kept].mean(), per_sample.detach(), kept)


def reweighted_bce(logits, labels, beta):
    r"""Reweighted cross-entropy, R-CE (ADT eq. 4 with the weight of eq. 6).

    :math:`L_{R-CE} = \omega(u,i) L_{CE}` with :math:`\omega = \hat y^\beta` for
    positives and :math:`(1 - \hat y)^\beta` for negatives, :math:`\hat y` the
    predicted probability, detached so the weight gets no gradient. Mean over batch.
    """
    per_sample = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    weights = reweighting_weights(logits, labels, beta)
    return DenoisedLoss((per_sample * weights).mean(), per_sample.detach(), _all_kept(per_sample))


def reweighting_weights(logits, labels, beta):
    """R-CE weight of each sample: ``p^beta`` for positives, ``(1-p)^beta`` for negatives."""
    prob = torch.sigmoid(logits).detach()
    return torch.pow(prob, beta) * labels + torch.pow(1.0 - prob, beta) * (1.0 - labels)


def bpr(pos_score, neg_score):
    """Plain BPR, ``-log sigmoid(pos - neg)``, mean over pairs."""
    per_pair = -F.logsigmoid(pos_score - neg_score)
    return DenoisedLoss(per_pair.mean(), per_pair.detach(), _all_kept(per_pair))


def truncated_bpr(pos_score, neg_score, drop_rate):
    """T-BPR: drop the ``drop_rate`` fraction of pairs with the largest BPR loss.

    Every pair holds one observed positive, so dropping a pair drops that positive
    for this step, as T-CE does.
    """
    per_pair = -F.logsigmoid(pos_score - neg_score)
    n_drop = number_to_drop(per_pair.numel(), drop_rate)
    kept = _all_kept(per_pair)
    if n_drop > 0:
        kept[torch.topk(per_pair.detach(), n_drop).indices] = False
    return DenoisedLoss(per_pair[kept].mean(), per_pair.detach(), kept)


def reweighted_bpr(pos_score, neg_score, beta):
    """R-BPR: weight each pair by ``sigmoid(pos - neg)^beta``, detached."""
    margin = pos_score - neg_score
    per_pair = -F.logsigmoid(margin)
    weights = torch.pow(torch.sigmoid(margin).detach(), beta)
    return DenoisedLoss((per_pair * weights).mean(), per_pair.detach(), _all_kept(per_pair))


POINTWISE_LOSSES = {"CE", "TCE", "RCE"}
PAIRWISE_LOSSES = {"BPR", "TBPR", "RBPR"}


def denoised_pointwise_loss(loss_type, logits, labels, drop_rate=0.0, beta=0.0):
    """Dispatch on ``loss_type`` in CE / TCE / RCE."""
    if loss_type == "CE":
        return bce(logits, labels)
    if loss_type == "TCE":
        return truncated_bce(logits, labels, drop_rate)
    if loss_type == "RCE":
        return reweighted_bce(logits, labels, beta)
    raise ValueError(f"pointwise loss_type must be one of CE, TCE, RCE; got {loss_type!r}")


def denoised_pairwise_loss(loss_type, pos_score, neg_score, drop_rate=0.0, beta=0.0):
    """Dispatch on ``loss_type`` in BPR / TBPR / RBPR."""
    if loss_type == "BPR":
        return bpr(pos_score, neg_score)
    if loss_type == "TBPR":
        return truncated_bpr(pos_score, neg_score, drop_rate)
    if loss_type == "RBPR":
        return reweighted_bpr(pos_score, neg_score, beta)
    raise ValueError(f"pairwise loss_type must be one of BPR, TBPR, RBPR; got {loss_type!r}")
