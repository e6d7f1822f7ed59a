"""Helpers shared by test modules (plain functions, usable in fixtures of any scope)."""

from recbole.utils import init_seed

from recbole_denoise.config import Config
from recbole_denoise.quick_start import prepare

QUIET = {"state": "ERROR", "show_progress": False, "use_gpu": False}

# config of the planted-groups dataset (conftest.write_planted_dataset): full ranking on Recall@10
PLANTED = {
    "load_col": {"inter": ["user_id", "item_id", "clean"]},
    "metrics": ["Recall", "NDCG"],
    "topk": [10],
    "valid_metric": "Recall@10",
    "eval_args": {"split": {"RS": [0.8, 0.1, 0.1]}, "group_by": "user", "order": "RO", "mode": "full"},
    "train_batch_size": 256,
    "learning_rate": 0.01,
}


def prepared(model, dataset, checkpoint_dir, **config):
    """``(model, (train, valid, test), trainer)`` for a quiet, seeded run."""
    config = Config(model=model, dataset=dataset,
                    config_dict=dict(QUIET, checkpoint_dir=str(checkpoint_dir), **config))
    init_seed(config["seed"], True)
    _, loaders, net, trainer = prepare(config)
    return net, loaders, trainer
