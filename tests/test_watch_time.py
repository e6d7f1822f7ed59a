"""Watch-time label rules (recbole_denoise.data.watch_time), checked against hand-computed values."""

import numpy as np
import pandas as pd
import pytest
import torch

from recbole_denoise.data import watch_time as wt

RATIOS = [0.0, 0.3, 0.99, 1.0, 1.7]
U = wt.UNLABELED_CLIP

# By hand, N_c = 4: r = 0 skips in clip 0; 0.3 -> 1.2 clips: clip 0 watched, skip in clip 1;
# 0.99 -> 3.96: clips 0-2 watched, skip in clip 3; 1 and 1.7 (a replay): all four watched.
LABELS_4 = [[0, U, U, U], [1, 0, U, U], [1, 1, 1, 0], [1, 1, 1, 1], [1, 1, 1, 1]]
# N_c = 1: every skip is in the only clip.
LABELS_1 = [[0], [0], [0], [1], [1]]
# N_c = 8: 0.3 -> 2.4 (two watched, skip in clip 2); 0.99 -> 7.92 (seven watched, skip in clip 7).
LABELS_8 = [[0] + [U] * 7, [1, 1, 0] + [U] * 5, [1] * 7 + [0], [1] * 8, [1] * 8]


@pytest.mark.parametrize("n_clips, labels, skips", [
    (4, LABELS_4, [0, 1, 3, -1, -1]),
    (1, LABELS_1, [0, 0, 0, -1, -1]),
    (8, LABELS_8, [0, 2, 7, -1, -1]),
])
def test_clip_labels_and_skip_clip_by_hand(n_clips, labels, skips):
    assert wt.clip_labels(RATIOS, n_clips).tolist() == labels
    assert wt.skip_clip_index(RATIOS, n_clips).tolist() == skips
    counts = [sum(1 for v in row if v == 1) for row in labels]
    assert wt.watched_clip_count(RATIOS, n_clips).tolist() == counts


def test_clip_labels_work_on_torch_and_pandas():
    expected = np.array(LABELS_4)
    from_torch = wt.clip_labels(torch.tensor(RATIOS), 4)
    assert isinstance(from_torch, torch.Tensor) and from_torch.tolist() == expected.tolist()
    assert wt.clip_labels(pd.Series(RATIOS), 4).tolist() == expected.tolist()


def test_exact_clip_boundaries_count_as_watched():
    # 6 s of a 10 s video with 5 clips is exactly 3 clips, though 0.6 * 5 is 2.9999... in floats
    assert wt.watched_clip_count(wt.watch_ratio([6.0, 7.5], [10.0, 10.0]), 5).tolist() == [3, 3]
    assert wt.watched_clip_count([0.25, 0.5, 0.75], 4).tolist() == [1, 2, 3]
    assert wt.skip_clip_index([0.25, 0.5, 0.75], 4).tolist() == [1, 2, 3]


def test_position_weights_follow_frame_eq_14():
    assert wt.clip_position_weights(4).tolist() == [0.25, 0.5, 0.75, 1.0]
    assert wt.clip_position_weights(1).tolist() == [1.0]
    assert wt.clip_position_weights(8).tolist() == [i / 8 for i in range(1, 9)]
    # positive clip i weighs i / N_c, the skipped clip 1, unlabeled clips 0
    weights = wt.clip_loss_weights(RATIOS, 4)
    assert weights.tolist() == [[1, 0, 0, 0], [0.25, 1, 0, 0], [0.25, 0.5, 0.75, 1],
                                [0.25, 0.5, 0.75, 1], [0.25, 0.5, 0.75, 1]]
    assert torch.equal(wt.clip_loss_weights(torch.tensor(RATIOS), 4), torch.tensor(weights, dtype=torch.float32))
    with pytest.raises(ValueError, match="n_clips"):
        wt.clip_position_weights(0)


def test_view_weights_of_the_authors_code():
    # one weight per view, floor(min(r, 1) * N_c) / N_c, on all its positive clips
    weights = wt.clip_loss_weights(RATIOS, 4, scheme="view")
    assert weights.tolist() == [[1, 0, 0, 0], [0.25, 1, 0, 0], [0.75, 0.75, 0.75, 1], [1, 1, 1, 1], [1, 1, 1, 1]]
    from_torch = wt.clip_loss_weights(torch.tensor(RATIOS), 4, scheme="view")
    assert torch.equal(from_torch, torch.tensor(weights, dtype=torch.float32))
    with pytest.raises(ValueError, match="scheme"):
        wt.clip_loss_weights(RATIOS, 4, scheme="clip")


def test_skip_levels_at_the_threshold_edges():
    play = [5.0, 4.999, 5.0, 4.999, 10.0, 3.0, 0.0]
    ratio = [0.5, 0.5, 0.9999, 0.9999, 1.0, 1.0, 0.0]
    # exactly 5 s is a delayed skip, 4.999 s a quick skip; ratio exactly 1 is a full watch,
    # also for a 3 s video; 0.9999 is a skip
    expected = [1, 0, 1, 0, 2, 2, 0]
    assert wt.skip_level(play, ratio).tolist() == expected
    assert wt.skip_level(torch.tensor(play), torch.tensor(ratio)).tolist() == expected
    assert wt.full_watch(ratio).tolist() == [0, 0, 0, 0, 1, 1, 0]


def test_skip_level_thresholds_are_configurable():
    play, ratio = [5.0, 8.0, 9.0], [0.5, 0.8, 0.9]
    assert wt.skip_level(play, ratio, quick_skip_seconds=8.5, full_ratio=0.9).tolist() == [0, 0, 2]
    assert wt.full_watch(ratio, full_ratio=0.8).tolist() == [0, 1, 1]


def test_watch_ratio_is_not_clipped():
    assert wt.watch_ratio([0, 3, 34], [10, 10, 20]).tolist() == [0.0, 0.3, 1.7]


def test_row_cleaning_counts_each_row_under_its_first_reason():
    frame = pd.DataFrame({
        "user_id": ["a", "a", "a", "b", "b", "b", "b", "c", "c", "c"],
        "item_id": ["1", "2", "3", "1", "2", "3", "4", "1", "1", "1"],
        "play_time": [5.0, np.nan, 2.0, -1.0, 15.0, 250.0, 3.0, 4.0, 9.0, 9.0],
        "duration": [10.0, 10.0, 0.0, np.nan, 10.0, 20.0, -2.0, 10.0, 10.0, 10.0],
        "timestamp": [1, 2, 3, 4, 5, 6, 7, 8, 9, 3],
    })
    kept, dropped = wt.clean_watch_rows(frame, time_field="timestamp", max_play_ratio=10.0)
    assert dropped == {
        wt.DROP_MISSING_DURATION: 1,  # row 3 (its negative play time is not counted again)
        wt.DROP_BAD_DURATION: 2,  # rows 2 and 6
        wt.DROP_MISSING_PLAY: 1,  # row 1
        wt.DROP_LONG_PLAY.format(ratio=10.0): 1,  # row 5: 250 s of a 20 s video
        wt.DROP_REPEATED_VIEW: 2,  # user c watched video 1 three times
    }
    # the longest view of (c, 1) is 9 s, twice: the earlier one (timestamp 3, row 9) is kept
    assert kept.index.tolist() == [0, 4, 9]
    assert sum(dropped.values()) + len(kept) == len(frame)


def test_row_cleaning_without_cap_or_timestamps():
    frame = pd.DataFrame({"user_id": ["a", "a", "a"], "item_id": ["1", "1", "2"],
                          "play_time": [3.0, 3.0, 1000.0], "duration": [10.0, 10.0, 10.0]})
    kept, dropped = wt.clean_watch_rows(frame, max_play_ratio=None)
    assert kept.index.tolist() == [0, 2]  # ties without timestamps: the first row
    assert dropped == {wt.DROP_REPEATED_VIEW: 1}
    _, capped = wt.clean_watch_rows(frame)
    assert capped[wt.DROP_LONG_PLAY.format(ratio=wt.MAX_PLAY_RATIO)] == 1
