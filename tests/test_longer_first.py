"""LongerFirst, the duration-only ranker beside ShorterFirst (DVR's Long baseline)."""

import torch

from recbole_denoise.model.general_recommender.longerfirst import LongerFirst
from recbole_denoise.quick_start import run_recbole_denoise
from recbole_denoise.utils import get_model
from support import QUIET, prepared


def test_longer_first_scores_increase_with_duration(tmp_path):
    assert get_model("LongerFirst") is LongerFirst
    model, (_, _, test), _ = prepared("LongerFirst", "microvideo-sim", tmp_path)
    batch = next(iter(test))[0]
    scores, duration = model.predict(batch), batch["duration"].float()
    order = torch.argsort(duration)
    assert torch.all(scores[order][1:] >= scores[order][:-1])
    assert torch.all((scores >= 0) & (scores < 1))
    median = model.median_duration
    assert torch.allclose(scores, duration / (duration + median))  # 1 - ShorterFirst's score


def test_longer_first_runs_under_the_own_items_protocol(tmp_path):
    result = run_recbole_denoise(model="LongerFirst", dataset="microvideo-sim",
                                 config_dict=dict(QUIET, checkpoint_dir=str(tmp_path)))
    assert 0.0 <= result["test_result"]["ndcg@5"] <= 1.0 and result["test_result"]["users_ranked"] > 0
