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


def test_clip_counts_of_float64_play_and_duration_at_a_boundary():
    # 7 s of a 10 s video with N_c = 10 is exactly 7 clips; 0.7 rounded to float32 is
    # 0.69999999, which would give 6: the count is computed in float64 from play and duration
    ratio = wt.watch_ratio([7.0], [10.0])
    assert wt.watched_clip_count(ratio, 10).tolist() == [7]
    assert wt.watched_clip_count(torch.tensor(ratio), 10).tolist() == [7]  # float64 tensor: same
    assert int((np.float32(0.7) * 10 + 1e-9) // 1) == 6  # what a float32 ratio would have given
    assert wt.clip_labels_of([7], 10).tolist() == [[1] * 7 + [0, U, U]]


# N_c = 4, full_watch_ratio 0.9: 0.85 -> 3.4 (three watched, skip in clip 3); 0.9 and 0.95 are
# full watches (all four positive, no negative clip) although they end inside clip 3
FULL_09 = [0.0, 0.3, 0.85, 0.9, 0.95, 1.0]


@pytest.mark.parametrize("full_ratio, counts, skips", [
    (0.9, [0, 1, 3, 4, 4, 4], [0, 1, 3, -1, -1, -1]),
    (1.0, [0, 1, 3, 3, 3, 4], [0, 1, 3, 3, 3, -1]),
])
def test_full_watch_ratio_moves_the_clip_labels_with_the_evaluation_label(full_ratio, counts, skips):
    assert wt.watched_clip_count(FULL_09, 4, full_ratio).tolist() == counts
    assert wt.skip_clip_index(FULL_09, 4, full_ratio).tolist() == skips
    assert wt.skip_clip_of(counts, 4).tolist() == skips
    labels = wt.clip_labels(FULL_09, 4, full_ratio)
    assert labels.tolist() == [[1] * c + [0] * (c < 4) + [U] * (3 - c) for c in counts]
    # a view has a negative clip exactly when the evaluation label says it was not finished
    assert ((labels == wt.NEGATIVE_CLIP).any(1) == (wt.full_watch(FULL_09, full_ratio) == 0)).all()


def test_full_watch_ratio_above_one_skips_in_the_last_clip():
    # r = 1.2 reached the end but not 1.5: a skip, counted in the last clip; 1.5 is full
    assert wt.watched_clip_count([1.2, 1.5], 4, full_ratio=1.5).tolist() == [3, 4]
    assert wt.skip_clip_index([1.2, 1.5], 4, full_ratio=1.5).tolist() == [3, -1]


def test_position_weights_follow_frame_eq_14():
    assert wt.clip_position_weights(4).tolist() == [0.25, 0.5, 0.75, 1.0]
    assert wt.clip_position_weights(1).tolist() == [1.0]
    assert wt.clip_position_weights(8).tolist() == [i / 8 for i in range(1, 9)]
    # positive clip i weighs i / N_c, the skipped clip 1, unlabeled clips 0
    weights = wt.clip_loss_weights(wt.watched_clip_count(RATIOS, 4), 4)
    assert weights.tolist() == [[1, 0, 0, 0], [0.25, 1, 0, 0], [0.25, 0.5, 0.75, 1],
                                [0.25, 0.5, 0.75, 1], [0.25, 0.5, 0.75, 1]]
    from_torch = wt.clip_loss_weights(wt.watched_clip_count(torch.tensor(RATIOS), 4), 4)
    assert torch.equal(from_torch, torch.tensor(weights, dtype=torch.float32))
    with pytest.raises(ValueError, match="n_clips"):
        wt.clip_position_weights(0)


def test_view_weights_of_the_authors_code():
    # one weight per view, (positive clip count) / N_c, on all its positive clips
    weights = wt.clip_loss_weights(wt.watched_clip_count(RATIOS, 4), 4, scheme="view")
    assert weights.tolist() == [[1, 0, 0, 0], [0.25, 1, 0, 0], [0.75, 0.75, 0.75, 1], [1, 1, 1, 1], [1, 1, 1, 1]]
    from_torch = wt.clip_loss_weights(wt.watched_clip_count(torch.tensor(RATIOS), 4), 4, scheme="view")
    assert torch.equal(from_torch, torch.tensor(weights, dtype=torch.float32))
    with pytest.raises(ValueError, match="scheme"):
        wt.clip_loss_weights([0, 1, 4], 4, scheme="clip")


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


# --------------------------------------------------------------------------- one label source


def _views_dataset(root, rows, **config):
    """A WatchTimeDataset of ``(user, video, play time, duration)`` rows."""
    from recbole_denoise.config import Config
    from recbole_denoise.data.watch_time_dataset import WatchTimeDataset

    folder = root / "views"
    folder.mkdir()
    lines = ["user_id:token\titem_id:token\tplay_time:float\tduration:float"]
    lines += ["\t".join(str(v) for v in row) for row in rows]
    (folder / "views.inter").write_text("\n".join(lines) + "\n")
    (folder / "views.yaml").write_text("load_col: ~\n")
    return WatchTimeDataset(Config(model="BPR", dataset="views",
                                   config_dict=dict({"state": "ERROR", "data_path": str(root)}, **config)))


def _clip_edges(dataset, graph):
    return sorted((dataset.id2token("user_id", u), dataset.id2token("item_id", c // dataset.n_clips),
                   c % dataset.n_clips) for u, c in zip(graph.rows.tolist(), graph.cols.tolist()))


def test_graph_and_loss_read_one_clip_count_at_a_float32_boundary(tmp_path):
    # 7 s of a 10 s video, N_c = 10: exactly 7 watched clips, skip in clip 7
    split = {"split": {"RS": [1.0, 0.0, 0.0]}, "order": "RO", "group_by": None, "mode": "full"}
    loaded = _views_dataset(tmp_path, [("u", "a", 7.0, 10.0), ("u", "b", 3.0, 10.0)], n_clips=10, eval_args=split)
    dataset = loaded.build()[0]  # the training split, as FRAME sees it
    # RO shuffles the rows: put video a first, so the rows below are (a, b)
    order = torch.argsort((dataset.inter_feat["item_id"] != dataset.token2id("item_id", "a")).long())
    ratio = dataset.inter_feat["watch_ratio"][order]
    assert ratio.dtype == torch.float32  # the split's ratio has lost the boundary ...
    assert wt.watched_clip_count(ratio, 10).tolist()[0] == 6  # ... counting from it would give 6
    counts = dataset.inter_feat["positive_clips"][order]
    assert counts.tolist()[0] == 7
    # the graph path (eq. 2-4) ...
    assert _clip_edges(dataset, dataset.positive_clip_graph()) == \
        [("u", "a", c) for c in range(7)] + [("u", "b", c) for c in range(3)]
    assert _clip_edges(dataset, dataset.negative_clip_graph()) == [("u", "a", 7), ("u", "b", 3)]
    # ... and the loss path (FRAME reads the interaction's positive_clips) agree
    labels = wt.clip_labels_of(counts, 10)
    assert (labels == wt.POSITIVE_CLIP).sum(1).tolist() == [7, 3]
    assert (labels == wt.NEGATIVE_CLIP).nonzero()[:, 1].tolist() == [7, 3]


def test_full_watch_ratio_moves_graphs_labels_and_evaluation_together(tmp_path):
    # r = 0.85, 0.95, 1.0 with N_c = 4 and full_watch_ratio 0.9: 0.85 is a skip in clip 3,
    # 0.95 and 1.0 are full watches (all four clips positive, no negative clip)
    dataset = _views_dataset(tmp_path, [("u", "a", 8.5, 10.0), ("u", "b", 9.5, 10.0), ("u", "c", 10.0, 10.0)],
                             full_watch_ratio=0.9)
    assert dataset.inter_feat["positive_clips"].tolist() == [3, 4, 4]
    assert dataset.inter_feat["full_watch"].tolist() == [0, 1, 1]
    assert _clip_edges(dataset, dataset.negative_clip_graph()) == [("u", "a", 3)]
    assert len(_clip_edges(dataset, dataset.positive_clip_graph())) == 3 + 4 + 4
    labels = wt.clip_labels_of(dataset.inter_feat["positive_clips"], 4)
    assert labels.tolist() == [[1, 1, 1, 0], [1, 1, 1, 1], [1, 1, 1, 1]]
