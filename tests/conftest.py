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


def write_multimodal_dataset(root, name="mm", n_users=60, n_items=40, per_user=10, seed=0,
                             drop_feature_items=(), extra_feature_items=0):
    """Planted groups (as ``write_planted_dataset``) with item content that reveals
    the group: a dense ``visual`` modality (group one-hot plus noise) and a word-id
    ``title`` modality (group-specific words). Feature rows are written in shuffled
    order, items in ``drop_feature_items`` get no row, and ``extra_feature_items``
    rows name items absent from the interactions."""
    rng = np.random.default_rng(seed)
    folder = os.path.join(root, name)
    os.makedirs(folder, exist_ok=True)
    half = n_items // 2
    lines = ["user_id:token\titem_id:token"]
    for user in range(n_users):
        own = np.arange(half) if user % 2 == 0 else np.arange(half, n_items)
        lines += [f"u{user}\ti{item}" for item in rng.choice(own, per_user, replace=False)]
    with open(os.path.join(folder, f"{name}.inter"), "w") as handle:
        handle.write("\n".join(lines) + "\n")

    items = [i for i in range(n_items) if i not in set(drop_feature_items)]
    items += list(range(n_items, n_items + extra_feature_items))
    rows = rng.permutation(items)
    groups = (rows >= half).astype(int)
    visual = np.eye(2)[groups] + 0.1 * rng.standard_normal((len(rows), 2))
    np.save(os.path.join(folder, f"{name}.visual.npy"), np.hstack([visual, rng.standard_normal((len(rows), 6))]).astype(np.float32))
    words = np.array([(r, 2 * g + k) for r, g in enumerate(groups) for k in (0, 1)], dtype=np.int64)
    np.save(os.path.join(folder, f"{name}.title_words.npy"), words)
    for modality in ("visual", "title"):
        with open(os.path.join(folder, f"{name}.{modality}.tokens"), "w") as handle:
            handle.write("".join(f"i{item}\n" for item in rows))
    with open(os.path.join(folder, f"{name}.yaml"), "w") as handle:
        handle.write(
            "item_modalities:\n"
            f"  visual: {{file: {name}.visual.npy, tokens: {name}.visual.tokens}}\n"
            f"  title: {{words: {name}.title_words.npy, tokens: {name}.title.tokens, n_words: 4}}\n"
            "metrics: [Recall, NDCG, Precision]\ntopk: [10]\nvalid_metric: Recall@10\n"
        )
    return folder, dict(zip(rows.tolist(), range(len(rows))))


@pytest.fixture
def multimodal_dataset(tmp_path):
    root = tmp_path / "data"
    write_multimodal_dataset(str(root))
    return str(root)
