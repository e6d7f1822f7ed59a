"""DPSkipNet on the bundled micro-video simulation: triples, loss, ablations."""

import pytest
import torch

from recbole_denoise.data.watch_time import HIGHLY_POSITIVE, LESS_POSITIVE, NEGATIVE
from recbole_denoise.quick_start import run_recbole_denoise
from support import QUIET, prepared



def _model(tmp_path, **config):
    return prepared("DPSkipNet", "microvideo-sim", tmp_path, **config)


def test_triples_hold_the_rows_video_and_same_user_samples_of_other_levels(tmp_path):
    model, (train, _, _), _ = _model(tmp_path)
    batch = next(iter(train))
    users, items = batch["user_id"], batch["item_id"]
    levels = batch["skip_level"].long()
    (high, less, negative), (has_high, has_less, has_negative) = model.bpr_triples(users, items, levels)
    views = {level: set(zip(g.rows.tolist(), g.cols.tolist())) for level, g in model.level_graphs.items()}
    for slot, level, has in ((high, HIGHLY_POSITIVE, has_high), (less, LESS_POSITIVE, has_less),
                             (negative, NEGATIVE, has_negative)):
        own = levels == level
        assert torch.equal(slot[own], items[own])  # the row's own video sits at its level
        for user, video, present in zip(users.tolist(), slot.tolist(), has.tolist()):
            if present:  # every sampled video is a training view of that user at that level
                assert (user, video) in views[level]


def test_loss_is_finite_and_training_lowers_it(tmp_path):
    model, (train, valid, _), trainer = _model(tmp_path, epochs=3)
    batch = next(iter(train))
    before = model.calculate_loss(batch).item()
    trainer.fit(train, valid, saved=False)
    after = model.calculate_loss(batch).item()
    assert torch.isfinite(torch.tensor(before)) and after < before


@pytest.mark.parametrize("ablation", [{}, {"graphs": "single"}, {"graphs": "high"}, {"bpr_negatives": "unseen"}])
def test_runs_with_the_own_items_protocol(tmp_path, ablation):
    result = run_recbole_denoise(model="DPSkipNet", dataset="microvideo-sim",
                                 config_dict=dict(QUIET, checkpoint_dir=str(tmp_path), epochs=2, **ablation))
    test = result["test_result"]
    assert 0.0 <= test["ndcg@5"] <= 1.0 and 0.0 <= test["auc"] <= 1.0
    assert test["users_ranked"] > 0
