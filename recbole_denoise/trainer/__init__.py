from recbole_denoise.trainer.checkpoint import SafeCheckpointMixin, with_safe_checkpoints
from recbole_denoise.trainer.denoise_trainer import DenoiseTrainer, install_denoising_loss
from recbole_denoise.trainer.diagnostics import DenoisingDiagnostics

__all__ = [
    "SafeCheckpointMixin",
    "with_safe_checkpoints",
    "DenoiseTrainer",
    "install_denoising_loss",
    "DenoisingDiagnostics",
]
