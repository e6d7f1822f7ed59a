"""ADT losses and the drop-rate schedule against hand-computed values."""

import math

import pytest
import torch
import torch.nn.functional as F

from recbole_denoise.loss import (
    DenoisingPairwiseLoss,
    DenoisingPointwiseLoss,
    DropRateSchedule,
    bce,
    bpr,
    reweighted_bce,
    reweighted_bpr,
    reweighting_weights,
    truncated_bce,
    truncated_bpr,
)


def hand_batch():
    # positives at 0..4 with losses increasing as the logit falls; negatives at 5..9
    logits = torch.tensor([3.0, 1.0, 0.0, -1.0, -3.0, -2.0, -1.0, 0.5, 2.0, 4.0])
    labels = torch.tensor([1, 1, 1, 1, 1, 0, 0, 0, 0, 0], dtype=torch.float)
    return logits, labels


def test_truncated_bce_drops_exactly_the_largest_loss_positives():
    logits, labels = hand_batch()
    # 10 samples, drop rate 0.2 -> 2 dropped: the two hardest positives (idx 4, 3),
    # although negative 9 (logit 4, label 0) has the largest loss of the batch
    result = truncated_bce(logits, labels, drop_rate=0.2)
    assert result.kept.tolist() == [True, True, True, False, False] + [True] * 5
    kept = [0, 1, 2, 5, 6, 7, 8, 9]
    expected = F.binary_cross_entropy_with_logits(logits[kept], labels[kept])
    assert result.loss.item() == pytest.approx(expected.item(), rel=1e-6)


def test_truncated_bce_never_drops_negatives():
    logits, labels = hand_batch()
    # drop rate 0.7 asks for 7 of 10, but only the 5 positives may go
    result = truncated_bce(logits, labels, drop_rate=0.7)
    assert result.kept[:5].sum() == 0
    assert result.kept[5:].all()


def test_truncated_bce_zero_rate_is_plain_bce():
    logits, labels = hand_batch()
    assert truncated_bce(logits, labels, 0.0).loss.item() == pytest.approx(bce(logits, labels).loss.item())
    assert truncated_bce(logits, labels, 0.0).kept.all()


def test_drop_count_is_a_fraction_of_the_whole_batch():
    logits = torch.zeros(20)
    labels = torch.tensor([1.0] * 10 + [0.0] * 10)
    # 0.3 * 20 = 6 (not 0.3 * 10 positives = 3); float 0.3 * 20 = 6.000000000000001
    assert (~truncated_bce(logits, labels, 0.3).kept).sum() == 6


def test_reweighted_bce_weights_by_detached_probability():
    logits = torch.tensor([2.0, -1.0, 0.5, -0.5], requires_grad=True)
    labels = torch.tensor([1.0, 1.0, 0.0, 0.0])
    beta = 0.25
    prob = torch.sigmoid(logits.detach())
    expected_weights = torch.stack([prob[0] ** beta, prob[1] ** beta,
                                    (1 - prob[2]) ** beta, (1 - prob[3]) ** beta])
    assert torch.allclose(reweighting_weights(logits, labels, beta), expected_weights)
    per_sample = F.binary_cross_entropy_with_logits(logits.detach(), labels, reduction="none")
    result = reweighted_bce(logits, labels, beta)
    assert result.loss.item() == pytest.approx((per_sample * expected_weights).mean().item(), rel=1e-6)
    # the weight is a constant for autograd: gradient = weight * dCE/dlogit / N
    result.loss.backward()
    expected_grad = expected_weights * (prob - labels) / 4
    assert torch.allclose(logits.grad, expected_grad, atol=1e-6)


def test_reweighted_bce_with_zero_beta_is_plain_bce():
    logits, labels = hand_batch()
    assert reweighted_bce(logits, labels, 0.0).loss.item() == pytest.approx(bce(logits, labels).loss.item())


def test_schedule_values():
    schedule = DropRateSchedule(drop_rate=0.2, num_gradual=1000)
    assert schedule(0) == 0.0
    assert schedule(250) == pytest.approx(0.05)
    assert schedule(500) == pytest.approx(0.1)
    assert schedule(1000) == pytest.approx(0.2)
    assert schedule(5000) == pytest.approx(0.2)
    assert DropRateSchedule(0.1, 0)(0) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="drop_rate"):
        DropRateSchedule(1.5, 10)


def test_truncated_bpr_drops_hardest_pairs_and_reweighted_bpr_weights():
    pos = torch.tensor([2.0, 0.0, -1.0, 1.0])
    neg = torch.tensor([0.0, 0.0, 1.0, 0.0])
    plain = bpr(pos, neg)
    assert plain.per_sample.tolist() == pytest.approx([-math.log(torch.sigmoid(torch.tensor(m)).item())
                                                       for m in (2.0, 0.0, -2.0, 1.0)], rel=1e-5)
    truncated = truncated_bpr(pos, neg, drop_rate=0.25)  # 1 of 4: the pair with margin -2
    assert truncated.kept.tolist() == [True, True, False, True]
    weights = torch.sigmoid(pos - neg) ** 0.5
    assert reweighted_bpr(pos, neg, 0.5).loss.item() == pytest.approx(
        (plain.per_sample * weights).mean().item(), rel=1e-6)


def test_loss_modules_record_the_batch_and_accept_probabilities():
    logits, labels = hand_batch()
    module = DenoisingPointwiseLoss(loss_type="TCE", inputs="probabilities")
    module.drop_rate = 0.2
    loss = module(torch.sigmoid(logits), labels)
    assert loss.item() == pytest.approx(truncated_bce(logits, labels, 0.2).loss.item(), rel=1e-4)
    assert module.last.result.kept.sum() == 8
    pairwise = DenoisingPairwiseLoss(loss_type="TBPR")
    pairwise.drop_rate = 0.5
    pairwise(torch.zeros(4), torch.ones(4))
    assert pairwise.last.result.kept.sum() == 2
    with pytest.raises(ValueError, match="CE, TCE, RCE"):
        DenoisingPointwiseLoss(loss_type="BPR")(logits, labels)
