"""The label-rate baselines of feedback tables (GlobalRate, UserRate, ItemRate): rates
against hand computation, and what each can and cannot rank on planted labels."""

import math

import numpy as np
import pytest
import torch

from recbole_denoise.config import Config
from recbole_denoise.quick_start import prepare, run_recbole_denoise

QUIET = {"state": "ERROR", "show_progress": False, "use_gpu": False}


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """60 users x 40 items, 2,400 labeled samples; P(label) = the item's quality (0.1 or
    0.9), whoever the user is: the item rate carries the signal, the user rate none."""
    root = tmp_path_factory.mktemp("rates")
    folder = root / "planted-labels"
    folder.mkdir()
    rng = np.random.default_rng(0)
    quality = np.where(np.arange(40) % 2 == 0, 0.9, 0.1)
    lines = ["user_id:token\titem_id:token\ttimestamp:float\tlabel:float"]
    for sample in range(2400):
        user, item = rng.integers(60), rng.integers(40)
        lines.append(f"u{user}\ti{item}\t{sample}\t{int(rng.random() < quality[item])}")
    (folder / "planted-labels.inter").write_text("\n".join(lines) + "\n")
    config = dict(QUIET, data_path=str(root), LABEL_FIELD="label", metrics=["AUC", "LogLoss"],
                  valid_metric="AUC", eval_args={"split": {"RS": [0.8, 0.1, 0.1]}, "order": "RO",
                                                 "group_by": None, "mode": "labeled"},
                  load_col={"inter": ["user_id", "item_id", "timestamp", "label"]}, seed=7)
    return config


def _prepared(name, config, tmp_path, **extra):
    settings = Config(model=name, dataset="planted-labels",
                      config_dict=dict(config, checkpoint_dir=str(tmp_path), **extra))
    _, loaders, model, _ = prepare(settings)
    return model, loaders


def test_rates_are_the_smoothed_training_rates(planted, tmp_path):
    for name, field in (("UserRate", "user_id"), ("ItemRate", "item_id")):
        model, (train, _, _) = _prepared(name, planted, tmp_path, prior_samples=3.0)
        inter = train._dataset.inter_feat
        keys, labels = inter[field], inter["label"].double()
        overall = labels.mean()
        for key in keys[:15].tolist():
            mine = keys == key
            expected = (labels[mine].sum() + 3.0 * overall) / (mine.sum() + 3.0)
            assert model.rate[key].item() == pytest.approx(expected.item(), abs=1e-6)
        assert model.rate[0].item() == pytest.approx(overall.item(), abs=1e-6)  # padding id: no samples
    model, (train, _, test) = _prepared("GlobalRate", planted, tmp_path)
    batch = next(iter(test))[0] if isinstance(next(iter(test)), tuple) else next(iter(test))
    scores = model.predict(batch)
    assert torch.allclose(scores, torch.full_like(scores, train._dataset.inter_feat["label"].float().mean()))


def test_only_the_item_rate_ranks_item_driven_labels(planted, tmp_path):
    results = {name: run_recbole_denoise(model=name, dataset="planted-labels",
                                         config_dict=dict(planted, checkpoint_dir=str(tmp_path)))["test_result"]
               for name in ("GlobalRate", "UserRate", "ItemRate")}
    assert results["GlobalRate"]["auc"] == pytest.approx(0.5)
    assert results["ItemRate"]["auc"] > 0.8  # quality 0.9 vs 0.1 per item
    assert abs(results["UserRate"]["auc"] - 0.5) < 0.1  # users carry no signal
    assert results["ItemRate"]["logloss"] < results["GlobalRate"]["logloss"]
    # a constant p scores the test labels' cross-entropy at p
    model, (train, _, test) = _prepared("GlobalRate", planted, tmp_path)
    p = train._dataset.inter_feat["label"].double().mean().item()
    rate = test._dataset.inter_feat["label"].double().mean().item()
    expected = -(rate * math.log(p) + (1 - rate) * math.log(1 - p))
    assert results["GlobalRate"]["logloss"] == pytest.approx(expected, abs=1e-3)
