from recbole_denoise.loss.denoising import (
    PAIRWISE_LOSSES,
    POINTWISE_LOSSES,
    DenoisedLoss,
    bce,
    bpr,
    denoised_pairwise_loss,
    denoised_pointwise_loss,
    reweighted_bce,
    reweighted_bpr,
    reweighting_weights,
    truncated_bce,
    truncated_bpr,
)
from recbole_denoise.loss.schedule import DropRateSchedule
from recbole_denoise.loss.triplet import (
    TRIPLET_SAMPLINGS,
    MemoryTripletLoss,
    cosine_distance,
    hardest_in_batch,
    pairwise_cosine_distance,
    triplet_margin_loss,
)
from recbole_denoise.loss.modules import (
    DenoisingPairwiseLoss,
    DenoisingPointwiseLoss,
    LossRecord,
)

__all__ = [
    "PAIRWISE_LOSSES",
    "POINTWISE_LOSSES",
    "DenoisedLoss",
    "bce",
    "bpr",
    "denoised_pairwise_loss",
    "denoised_pointwise_loss",
    "reweighted_bce",
    "reweighted_bpr",
    "reweighting_weights",
    "truncated_bce",
    "truncated_bpr",
    "DenoisingPairwiseLoss",
    "DenoisingPointwiseLoss",
    "LossRecord",
    "DropRateSchedule",
    "TRIPLET_SAMPLINGS",
    "MemoryTripletLoss",
    "cosine_distance",
    "hardest_in_batch",
    "pairwise_cosine_distance",
    "triplet_margin_loss",
]
