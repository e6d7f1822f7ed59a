"""ClickDIN: RecBole's DIN over the click window of a feedback dataset. Its sequence is the
user's clicks strictly before the sample's time, left-aligned with the length RecBole's DIN
masks by; it trains and scores through the package's entry."""

import pytest
import torch

from recbole_denoise.config import Config
from recbole_denoise.quick_start import prepare
from test_feedback_dataset import NAME, ROWS, write

QUIET = {"state": "ERROR", "show_progress": False, "use_gpu": False}


@pytest.fixture
def click_din(tmp_path):
    write(str(tmp_path), feedback=[])
    config = Config(model="ClickDIN", dataset=NAME,
                    config_dict=dict(QUIET, data_path=str(tmp_path), checkpoint_dir=str(tmp_path), history_length=3,
                                     eval_args={"split": {"RS": [0.6, 0.2, 0.2]}, "order": "TO",
                                                "group_by": "user", "mode": "labeled"}))
    dataset, loaders, model, trainer = prepare(config)
    return dataset, loaders, model, trainer


def expected_clicks(user, time, length):
    """Items the user clicked strictly before ``time`` offset, the last ``length``, oldest first."""
    clicks = [(offset, item) for who, item, offset, _, click, _, _ in ROWS if who == user and click == 1
              and offset < time]
    return [item for _, item in sorted(clicks, key=lambda pair: pair[0])][-length:]


def test_the_sequence_is_the_click_window_left_aligned(click_din):
    dataset, _, model, _ = click_din
    inter = dataset.inter_feat
    items, lengths = model.click_sequence(inter)
    base = inter["timestamp"].min().item()
    for row in range(len(inter)):
        user = dataset.id2token("user_id", inter["user_id"][row].item())
        offset = round(inter["timestamp"][row].item() - base)
        wanted = expected_clicks(user, offset, 3)
        got = [dataset.id2token("item_id", item) for item in items[row, :lengths[row]].tolist()]
        assert got == wanted, (user, offset)
        assert torch.all(items[row, lengths[row]:] == 0)


def test_it_trains_and_scores_every_sample(click_din):
    _, (train, valid, test), model, trainer = click_din
    batch = next(iter(train))
    loss = model.calculate_loss(batch)
    loss.backward()
    assert torch.isfinite(loss) and any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    scores = model.predict(next(iter(test))[0] if isinstance(next(iter(test)), tuple) else next(iter(test)))
    assert torch.all((scores >= 0) & (scores <= 1))
    assert model.attention.mask_mat.shape == (1, 3) and "attention.mask_mat" not in model.state_dict()
