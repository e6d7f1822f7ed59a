"""Loss modules that a model owns (``self.loss = ...``) and a trainer configures.

They compute the plain loss by default, so a model that uses them trains the same
under RecBole's own ``Trainer``; the ``DenoiseTrainer`` sets ``loss_type``,
``drop_rate`` and ``beta`` and reads ``last`` (the per-sample record of the latest
call) for its diagnostics. The ``DenoiseTrainer`` also puts them in place of the
``BCEWithLogitsLoss`` / ``BCELoss`` / ``BPRLoss`` of RecBole's own models.
"""

from typing import NamedTuple, Optional

import torch
from torch import nn

from recbole_denoise.loss.denoising import (
    DenoisedLoss,
    denoised_pairwise_loss,
    denoised_pointwise_loss,
)

_PROB_EPS = 1e-7


class LossRecord(NamedTuple):
    result: DenoisedLoss
    labels: Optional[torch.Tensor]  # None for pairwise: every pair holds a positive
    clean: Optional[torch.Tensor]  # ground-truth flag per sample, when the model knows it


class DenoisingPointwiseLoss(nn.Module):
    """BCE / T-CE / R-CE on per-sample scores.

    Args:
        loss_type: ``CE``, ``TCE`` or ``RCE``.
        beta: R-CE exponent.
        inputs: ``logits`` (like ``BCEWithLogitsLoss``) or ``probabilities`` (like
            ``BCELoss``; turned into logits so every variant shares one code path).

    Shapes: ``scores`` and ``labels`` are ``[N]``; ``clean`` optional ``[N]``.
    """

    kind = "pointwise"

    def __init__(self, loss_type="CE", beta=0.0, inputs="logits"):
        super().__init__()
        if inputs not in ("logits", "probabilities"):
            raise ValueError(f"inputs must be 'logits' or 'probabilities', got {inputs!r}")
        self.loss_type = loss_type
        self.beta = beta
        self.inputs = inputs
        self.drop_rate = 0.0
        self.last = None

    def forward(self, scores, labels, clean=None):
        logits = scores
        if self.inputs == "probabilities":
            logits = torch.logit(scores.clamp(_PROB_EPS, 1.0 - _PROB_EPS))
        labels = labels.to(logits.dtype)
        result = denoised_pointwise_loss(
            self.loss_type, logits, labels, drop_rate=self.drop_rate, beta=self.beta
        )
        self.last = LossRecord(result, labels.detach(), clean)
        return result.loss


class DenoisingPairwiseLoss(nn.Module):
    """BPR / T-BPR / R-BPR on ``[N]`` positive and negative scores."""

    kind = "pairwise"

    def __init__(self, loss_type="BPR", beta=0.0):
        super().__init__()
        self.loss_type = loss_type
        self.beta = beta
        self.drop_rate = 0.0
        self.last = None

    def forward(self, pos_score, neg_score, clean=None):
        result = denoised_pairwise_loss(
            self.loss_type, pos_score, neg_score, drop_rate=self.drop_rate, beta=self.beta
        )
        self.last = LossRecord(result, None, clean)
        return result.loss
