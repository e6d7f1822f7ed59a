"""The micro-video simulator: determinism, planted truth consistent with its own views, and the bundled copy."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from recbole_denoise.config import Config
from recbole_denoise.data import watch_time
from recbole_denoise.data.simulate_microvideo import Settings, continue_probabilities, main, simulate
from recbole_denoise.data.watch_time_dataset import WatchTimeDataset

SMALL = Settings(n_users=120, n_videos=150)
BUNDLED = Path(__file__).resolve().parents[1] / "dataset" / "microvideo-sim"


def contents(folder: Path):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def read_views(folder: Path) -> pd.DataFrame:
    frame = pd.read_csv(folder / f"{folder.name}.inter", sep="\t")
    frame.columns = [c.split(":")[0] for c in frame.columns]
    return frame


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim") / "sim"
    simulate(out, seed=3, settings=SMALL, quiet=True)
    return out


def test_same_seed_gives_byte_identical_files(small, tmp_path):
    first = contents(small)
    simulate(small, seed=3, settings=SMALL, overwrite=True, quiet=True)
    assert contents(small) == first
    other = tmp_path / "sim"
    simulate(other, seed=4, settings=SMALL, quiet=True)
    assert contents(other)["sim.inter"] != first["sim.inter"]


def test_planted_truth_is_the_one_that_drew_the_views(small):
    config = yaml.safe_load((small / "sim.yaml").read_text())["simulation"]
    views = read_views(small)
    affinity = np.load(small / config["affinity"]["file"])
    users = (small / config["affinity"]["tokens"]).read_text().split()
    clip_topic = np.load(small / config["clip_topic"]["file"])
    videos = (small / config["clip_topic"]["tokens"]).read_text().split()
    p_continue = np.load(small / config["interaction_continue"]["file"]).astype(np.float64)
    assert p_continue.shape == (len(views), 4)

    # the per-view truth follows from the per-user and per-clip truth and the yaml's formula
    user_index = views["user_id"].map({t: i for i, t in enumerate(users)}).to_numpy()
    video_index = views["item_id"].map({t: i for i, t in enumerate(videos)}).to_numpy()
    recomputed = continue_probabilities(affinity.astype(np.float64), clip_topic, user_index, video_index,
                                        Settings(bias=tuple(config["bias"]), scale=config["scale"]))
    np.testing.assert_allclose(p_continue, recomputed, rtol=1e-5)

    # where users skip follows the planted probabilities: P(skip at c) = p_0 ... p_{c-1} (1 - p_c)
    ratio = watch_time.watch_ratio(views["play_time"], views["duration"])
    outcome = np.where(ratio >= 1, 4, watch_time.skip_clip_index(ratio, 4))
    reach = np.cumprod(np.hstack([np.ones((len(views), 1)), p_continue]), axis=1)  # P(reach clip c)
    expected = np.hstack([reach[:, :4] * (1 - p_continue), reach[:, 4:]])
    observed = np.eye(5)[outcome]
    standard_error = np.sqrt(expected.mean(axis=0) * (1 - expected.mean(axis=0)) / len(views))
    assert np.all(np.abs(observed.mean(axis=0) - expected.mean(axis=0)) < 4 * standard_error + 1e-3)
    # and per view, a lower planted probability at the skipped clip than at the clips watched
    skipped = outcome < 4
    rows = np.flatnonzero(skipped & (outcome > 0))
    at_skip = p_continue[rows, outcome[rows]]
    before = np.array([p_continue[r, :outcome[r]].mean() for r in rows])
    assert at_skip.mean() < before.mean() - 0.05


def test_views_are_plausible(small):
    views = read_views(small)
    assert views.groupby("user_id").size().between(12, 40).all()
    assert not views.duplicated(["user_id", "item_id"]).any()
    assert views["duration"].between(10, 120).all()
    assert (views.groupby("user_id")["timestamp"].diff().dropna() > 0).all()
    ratio = views["play_time"] / views["duration"]
    assert 0.1 < (ratio >= 1).mean() < 0.6 and (ratio > 1).any()  # full watches, some replays


def test_bundled_dataset_loads_with_clip_features_and_says_it_is_synthetic():
    text = (BUNDLED / "README.md").read_text()
    assert "SYNTHETIC" in text
    assert sum(p.stat().st_size for p in BUNDLED.iterdir()) < 3_000_000
    config = Config(model="BPR", dataset="microvideo-sim", config_dict={"state": "ERROR"})
    assert config["simulation"]["synthetic"] is True
    dataset = WatchTimeDataset(config)
    assert tuple(dataset.clip_features.shape) == (dataset.item_num, 4, 32)
    assert dataset.item_features["visual"].shape == (dataset.item_num, 32)
    assert dataset.positive_clip_graph().num_edges > dataset.negative_clip_graph().num_edges > 0
    assert dataset.high_positive_graph().num_edges + dataset.less_positive_graph().num_edges < dataset.inter_num


def test_cli(tmp_path):
    out = tmp_path / "data" / "tiny"
    assert main(["--out", str(out), "--users", "20", "--videos", "30", "--seed", "1", "--quiet"]) == 0
    assert read_views(out)["user_id"].nunique() == 20
    assert main(["--out", str(out), "--users", "20", "--videos", "30", "--quiet"]) == 1  # exists
