"""Adaptive Denoising Training (ADT, Wang et al., WSDM 2021) as a RecBole trainer."""

import os

from recbole.model.loss import BPRLoss
from recbole.trainer import Trainer
from recbole.utils import set_color
from torch import nn

from recbole_denoise import distributed
from recbole_denoise.loss import (
    PAIRWISE_LOSSES,
    POINTWISE_LOSSES,
    DenoisingPairwiseLoss,
    DenoisingPointwiseLoss,
    DropRateSchedule,
)
from recbole_denoise.trainer.checkpoint import SafeCheckpointMixin, plain_value
from recbole_denoise.trainer.diagnostics import DenoisingDiagnostics

# RecBole's own loss modules that have a denoising stand-in
_REPLACEABLE = {
    nn.BCEWithLogitsLoss: lambda: DenoisingPointwiseLoss(inputs="logits"),
    nn.BCELoss: lambda: DenoisingPointwiseLoss(inputs="probabilities"),
    BPRLoss: lambda: DenoisingPairwiseLoss(),
}


def install_denoising_loss(model, loss_type, beta):
    """Find the model's loss module, replacing RecBole's with a denoising one.

    A model of this package owns a ``DenoisingPointwiseLoss`` or
    ``DenoisingPairwiseLoss`` already. For RecBole's models the one child module that
    is a ``BCEWithLogitsLoss``, ``BCELoss`` or ``BPRLoss`` is swapped for the
    equivalent denoising module, so the model's own ``calculate_loss`` (and any
    regulariser it adds) runs unchanged.
    """
    own = [m for m in model.modules() if isinstance(m, (DenoisingPointwiseLoss, DenoisingPairwiseLoss))]
    if not own:
        candidates = [
            (name, module) for name, module in model.named_children()
            if type(module) in _REPLACEABLE
        ]
        if len(candidates) != 1:
            found = ", ".join(f"{name}: {type(m).__name__}" for name, m in candidates) or "none"
            raise ValueError(
                f"{type(model).__name__} cannot be trained with loss_type={loss_type}: "
                f"the DenoiseTrainer needs exactly one BCEWithLogitsLoss, BCELoss or "
                f"BPRLoss attribute on the model (found {found})"
            )
        name, module = candidates[0]
        setattr(model, name, _REPLACEABLE[type(module)]())
        own = [getattr(model, name)]
    if len(own) != 1:
        raise ValueError(f"{type(model).__name__} owns {len(own)} denoising losses; expected 1")
    loss_module = own[0]
    allowed = POINTWISE_LOSSES if loss_module.kind == "pointwise" else PAIRWISE_LOSSES
    if loss_type not in allowed:
        raise ValueError(
            f"{type(model).__name__} is a {loss_module.kind} model: loss_type must be one "
            f"of {sorted(allowed)}, got {loss_type!r}"
        )
    loss_module.loss_type = loss_type
    loss_module.beta = beta
    return loss_module


# the loss types that drop interactions (T-CE, T-BPR): only they have a drop rate to report
TRUNCATING_LOSS_TYPES = ("TCE", "TBPR")


def epoch_log_line(loss_type, row):
    """The per-epoch denoising log of a ``DenoisingDiagnostics`` row: what T-CE / T-BPR
    dropped; for the losses that drop nothing (CE, RCE, BPR, RBPR) only the mean loss of
    clean and false-positive interactions (their schedule's rate is applied to nothing)."""
    if loss_type in TRUNCATING_LOSS_TYPES:
        return DenoisingDiagnostics.format(row)

    def mean(value):
        return "n/a" if value is None else f"{value:.4f}"

    return (f"{row['positives']} positives, {row['false_positives']} known false positives; "
            f"mean loss clean {mean(row['ce_clean'])} / false positive {mean(row['ce_noisy'])} "
            f"({loss_type} drops nothing)")


class DenoiseTrainer(SafeCheckpointMixin, Trainer):
    r"""RecBole ``Trainer`` that trains with the ADT losses and reports what they drop.

    ``loss_type``: ``CE`` (normal training), ``TCE`` (truncated, ADT eq. 2-3), ``RCE``
    (reweighted, eq. 4-6) for pointwise models; ``BPR``, ``TBPR``, ``RBPR`` for
    pairwise ones. The drop rate follows ``DropRateSchedule(drop_rate, num_gradual)``
    over the global iteration, which a resumed training restores.

    When the training interactions carry the clean flag (``clean_field``), every
    epoch logs and appends to ``<saved_model_file>-denoising.csv`` the drop
    precision / recall against the known false positives and the mean loss of clean
    and false-positive interactions (``DenoisingDiagnostics``).

    Distributed (``run_recbole_denoise(nproc=...)``): each process truncates within its
    own part of the batch (``train_batch_size / world_size`` rows, as DDP computes each
    process's loss on its part), on the same drop-rate schedule; the diagnostics add up
    every process's counts, and rank 0 writes them.
    """

    def __init__(self, config, model):
        super().__init__(config, model)
        self.loss_type = config["loss_type"]
        self.clean_field = config["clean_field"]
        self.schedule = DropRateSchedule(config["drop_rate"], config["num_gradual"])
        self.loss_module = install_denoising_loss(model, self.loss_type, config["beta"])
        self.global_step = 0
        self.diagnostics = DenoisingDiagnostics(self._diagnostics_csv())

    def _diagnostics_csv(self):
        """``<saved_model_file>-denoising.csv``; ``None`` (no file) on processes other than rank 0."""
        if not distributed.is_main_process(self.config):
            return None
        root, _ = os.path.splitext(self.saved_model_file)
        return f"{root}-denoising.csv"

    def _denoised_loss(self, interaction):
        self.loss_module.drop_rate = self.schedule(self.global_step)
        loss = self.model.calculate_loss(interaction)
        record = self.loss_module.last
        if record.clean is None and self.clean_field in interaction:
            flags = interaction[self.clean_field]
            if len(flags) == len(record.result.per_sample):
                record = record._replace(clean=flags)
        self.diagnostics.update(record)
        self.global_step += 1
        return loss

    def _train_epoch(self, train_data, epoch_idx, loss_func=None, show_progress=False):
        loss = super()._train_epoch(
            train_data, epoch_idx, loss_func=loss_func or self._denoised_loss,
            show_progress=show_progress,
        )
        if distributed.is_distributed(self.config):
            self.diagnostics.combine(distributed.sum_over_ranks)
        row = self.diagnostics.end_epoch(epoch_idx, self.schedule(self.global_step))
        self._add_diagnostics_to_tensorboard(row)
        if row["positives"] > 0 and row["false_positives"] + row["dropped"] > 0:
            self.logger.info(set_color(f"epoch {epoch_idx} denoising", "green") + ": "
                             + epoch_log_line(self.loss_type, row))
        return loss

    # DenoisingDiagnostics columns written to RecBole's tensorboard, as "Denoising/<column>"
    TENSORBOARD_COLUMNS = ("drop_rate", "drop_precision", "random_precision", "drop_recall", "random_recall",
                           "ce_clean", "ce_noisy")

    def _add_diagnostics_to_tensorboard(self, row):
        """The epoch's diagnostics as scalars in RecBole's tensorboard (``self.tensorboard``,
        ``log_tensorboard/``), beside its ``Loss/Train`` and validation score; a value that
        is undefined this epoch (no false positive seen, nothing dropped) is left out."""
        if row["positives"] == 0:
            return
        for column in self.TENSORBOARD_COLUMNS:
            if row[column] is not None:
                self.tensorboard.add_scalar(f"Denoising/{column}", row[column], row["epoch"])

    def extra_checkpoint_state(self):
        return {"global_step": self.global_step, "denoising_history": plain_value(self.diagnostics.history)}

    def restore_extra_checkpoint_state(self, checkpoint):
        """The drop schedule's iteration and the diagnostics of every epoch so far, whose
        csv file continues beside the best model the interrupted run wrote."""
        self.global_step = int(checkpoint.get("global_step", 0))
        if "denoising_history" not in checkpoint:
            self.diagnostics.csv_path = self._diagnostics_csv()
            self.logger.warning(set_color("Resume checkpoint lacks the denoising diagnostics", "red")
                                + f": {self.diagnostics.csv_path} keeps its rows and the resumed epochs "
                                  f"are appended (an epoch trained again after the resume point appears twice)")
            return
        self.diagnostics.restore(checkpoint["denoising_history"], self._diagnostics_csv())
