"""Helpers shared by test modules (plain functions, usable in fixtures of any scope)."""

from recbole.utils import init_seed

from recbole_denoise.config import Config
from recbole_denoise.quick_start import prepare

QUIET = {"state": "ERROR", "show_progress": False, "use_gpu": False}


def prepared(model, dataset, checkpoint_dir, **config):
    """``(model, (train, valid, test), trainer)`` for a quiet, seeded run."""
    config = Config(model=model, dataset=dataset,
                    config_dict=dict(QUIET, checkpoint_dir=str(checkpoint_dir), **config))
    init_seed(config["seed"], True)
    _, loaders, net, trainer = prepare(config)
    return net, loaders, trainer
