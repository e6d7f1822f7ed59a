"""Shared fixtures: quiet RecBole configs and small planted-signal datasets."""

import os

import numpy as np
import pytest

QUIET = {
    "state": "ERROR",
    "show_progress": False,
    "use_gpu": False,
    "seed": 2020,
    "reproducibility": True,
}


@pytest.fixture
def quiet_config(tmp_path):
    """``config_dict`` overrides for a fast, quiet run writing into ``tmp_path``."""

    def make(**overrides):
        config = dict(QUIET, checkpoint_dir=str(tmp_path / "saved"))
        config.update(overrides)
        return config

    return make


def write_planted_dataset(root, name="planted", n_users=80, n_items=60, per_user=12,
                          noise_per_user=3, seed=0):
    """Two user groups, each liking its own half of the items (clean); plus
    ``noise_per_user`` false positives per user drawn from the other half (clean=0).

    A model that learns the groups ranks in-group items first; T-CE should drop the
    cross-group false positives more often than random dropping would.
    """
    rng = np.random.default_rng(seed)
    folder = os.path.join(root, name)
    os.makedirs(folder, exist_ok=True)
    half = n_items // 2
    lines = ["user_id:token\titem_id:token\tclean:float"]
    for user in range(n_users):
        own = np.arange(half) if user % 2 == 0 else np.arange(half, n_items)
        other = np.arange(half, n_items) if user % 2 == 0 else np.arange(half)
        for item in rng.choice(own, per_user, replace=False):
            lines.append(f"u{user}\ti{item}\t1")
        for item in rng.choice(other, noise_per_user, replace=False):
            lines.append(f"u{user}\ti{item}\t0")
    with open(os.path.join(folder, f"{name}.inter"), "w") as handle:
        handle.write("\n".join(lines) + "\n")
    return folder


@pytest.fixture
def planted_dataset(tmp_path):
    root = tmp_path / "data"
    write_planted_dataset(str(root))
    return str(root)
