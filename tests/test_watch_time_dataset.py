"""WatchTimeDataset: cleaning at load, derived labels, clip-feature alignment and the sparse graphs."""

import os

import numpy as np
import pytest
from recbole.utils import FeatureSource

from recbole_denoise.config import Config
from recbole_denoise.data.watch_time_dataset import WatchTimeDataset

NAME = "views"
# user, video, play time (s), duration (s), timestamp; expected by hand with N_c = 4
ROWS = [
    ("u1", "a", 0.0, 20.0, 1),  # r 0: quick skip, negative clip a0
    ("u1", "b", 6.0, 20.0, 2),  # r 0.3: delayed skip, positive b0, negative b1
    ("u1", "c", 20.0, 20.0, 3),  # r 1: full watch, positive c0..c3
    ("u2", "a", 19.8, 20.0, 4),  # r 0.99: delayed skip, positive a0..a2, negative a3
    ("u2", "b", 34.0, 20.0, 5),  # r 1.7 (replay): full watch, positive b0..b3
    ("u2", "b", 2.0, 20.0, 6),  # repeated view, shorter: dropped
    ("u3", "c", 4.999, 40.0, 7),  # r 0.125, 4.999 s: quick skip, negative c0
    ("u3", "a", 5.0, 10.0, 8),  # r 0.5, exactly 5 s: delayed skip, positive a0 a1, negative a2
    ("u3", "b", -1.0, 20.0, 9),  # negative play time: dropped
    ("u1", "d", 5.0, 0.0, 10),  # zero duration: dropped
    ("u3", "d", 300.0, 10.0, 11),  # 30 x duration: dropped (max_play_ratio 10)
    ("u2", "c", 3.0, "", 12),  # missing duration: dropped
]
POSITIVE_CLIPS = {("u1", "b", 0), *{("u1", "c", k) for k in range(4)}, *{("u2", "a", k) for k in range(3)},
                  *{("u2", "b", k) for k in range(4)}, ("u3", "a", 0), ("u3", "a", 1)}
NEGATIVE_CLIPS = {("u1", "a", 0), ("u1", "b", 1), ("u2", "a", 3), ("u3", "c", 0), ("u3", "a", 2)}
HIGH = {("u1", "c"), ("u2", "b")}
LESS = {("u1", "b"), ("u2", "a"), ("u3", "a")}
QUICK = {("u1", "a"), ("u3", "c")}


def write_views(root, rows=ROWS, yaml_text="load_col: ~\n", clips=None, name=NAME):
    folder = os.path.join(root, name)
    os.makedirs(folder, exist_ok=True)
    lines = ["user_id:token\titem_id:token\tplay_time:float\tduration:float\ttimestamp:float"]
    lines += ["\t".join(str(v) for v in row) for row in rows]
    with open(os.path.join(folder, f"{name}.inter"), "w") as handle:
        handle.write("\n".join(lines) + "\n")
    if clips is not None:
        tokens, array = clips
        np.save(os.path.join(folder, f"{name}.clip.npy"), array.astype(np.float32))
        with open(os.path.join(folder, f"{name}.clip.tokens"), "w") as handle:
            handle.write("".join(t + "\n" for t in tokens))
        yaml_text += f"clip_features: {{file: {name}.clip.npy, tokens: {name}.clip.tokens}}\n"
    with open(os.path.join(folder, f"{name}.yaml"), "w") as handle:
        handle.write(yaml_text)
    return str(root)


def load(data_path, **overrides):
    config = Config(model="BPR", dataset=NAME,
                    config_dict={"state": "ERROR", "data_path": data_path, **overrides})
    return WatchTimeDataset(config)


def clip_edges(dataset, graph):
    edges = set()
    for user, clip in zip(graph.rows.tolist(), graph.cols.tolist()):
        item, index = divmod(clip, dataset.n_clips)
        edges.add((dataset.id2token("user_id", user), dataset.id2token("item_id", item), index))
    return edges


def item_edges(dataset, graph):
    return {(dataset.id2token("user_id", u), dataset.id2token("item_id", i))
            for u, i in zip(graph.rows.tolist(), graph.cols.tolist())}


@pytest.fixture(scope="module")
def views(tmp_path_factory):
    return load(write_views(tmp_path_factory.mktemp("data")))


def test_cleaning_and_labels(views):
    assert views.inter_num == 7
    assert views.watch_rows_dropped == {"missing duration": 1, "zero or negative duration": 1,
                                        "negative play time": 1, "play time beyond 10 x duration": 1,
                                        "repeated view of the same (user, video) (kept the longest)": 1}
    frame = views.inter_feat
    pairs = [(views.id2token("user_id", u), views.id2token("item_id", i))
             for u, i in zip(frame["user_id"], frame["item_id"])]
    level = dict(zip(pairs, frame["skip_level"]))
    full = dict(zip(pairs, frame["full_watch"]))
    ratio = dict(zip(pairs, frame["watch_ratio"]))
    assert {p for p, v in level.items() if v == 2} == HIGH
    assert {p for p, v in level.items() if v == 1} == LESS
    assert {p for p, v in level.items() if v == 0} == QUICK
    assert {p for p, v in full.items() if v == 1} == HIGH
    assert ratio[("u2", "b")] == pytest.approx(1.7)  # the longest view was kept, unclipped
    assert views.clip_features is None and views.n_clips == 4


def test_graph_edges_against_the_hand_built_case(views):
    assert clip_edges(views, views.positive_clip_graph()) == POSITIVE_CLIPS
    assert clip_edges(views, views.negative_clip_graph()) == NEGATIVE_CLIPS
    assert item_edges(views, views.high_positive_graph()) == HIGH
    assert item_edges(views, views.less_positive_graph()) == LESS
    assert item_edges(views, views.quick_skip_graph()) == QUICK
    assert item_edges(views, views.all_interaction_graph()) == HIGH | LESS | QUICK
    graph = views.positive_clip_graph()
    assert (graph.n_rows, graph.n_cols) == (views.user_num, views.item_num * 4)


def test_graphs_of_the_training_split_hold_training_edges_only(tmp_path):
    dataset = load(write_views(tmp_path / "data"), eval_args={"split": {"RS": [0.5, 0.25, 0.25]}, "order": "RO",
                                                              "group_by": None, "mode": "full"})
    train, valid, test = dataset.build()  # the splits hold torch Interactions, not pandas frames
    assert len(train) + len(valid) + len(test) == 7 and 0 < len(train) < 7
    users = [train.id2token("user_id", u) for u in train.inter_feat["user_id"].tolist()]
    items = [train.id2token("item_id", i) for i in train.inter_feat["item_id"].tolist()]
    in_train = set(zip(users, items))
    assert item_edges(train, train.all_interaction_graph()) == in_train
    assert item_edges(train, train.high_positive_graph()) == HIGH & in_train
    assert item_edges(train, train.less_positive_graph()) == LESS & in_train
    expected_negative = {e for e in NEGATIVE_CLIPS if e[:2] in in_train}
    assert clip_edges(train, train.negative_clip_graph()) == expected_negative


def test_labels_are_ground_truth_and_stay_unscaled(tmp_path):
    dataset = load(write_views(tmp_path / "data"), normalize_all=True, n_clips=8, quick_skip_seconds=6,
                   full_watch_ratio=0.99, max_play_ratio=None)
    hidden = {"play_time", "watch_ratio", "skip_level", "full_watch"}
    assert not hidden & set(dataset.fields(source=[FeatureSource.INTERACTION]))
    frame = dataset.inter_feat
    assert set(frame["skip_level"].unique()) == {0.0, 1.0, 2.0}
    assert frame["play_time"].max() == 300.0  # no cap, and not scaled to [0, 1]
    by_pair = {(dataset.id2token("user_id", u), dataset.id2token("item_id", i)): (lvl, full)
               for u, i, lvl, full in zip(frame["user_id"], frame["item_id"], frame["skip_level"], frame["full_watch"])}
    assert by_pair[("u2", "a")] == (2.0, 1.0)  # 0.99 is a full watch under full_watch_ratio 0.99
    assert by_pair[("u3", "a")] == (0.0, 0.0)  # 5 s < 6 s: a quick skip
    assert by_pair[("u1", "b")] == (1.0, 0.0)
    # eight clips: r 0.3 -> 2.4 watched clips
    assert {e for e in clip_edges(dataset, dataset.negative_clip_graph()) if e[:2] == ("u1", "b")} == {("u1", "b", 2)}


def test_clip_features_align_by_token_with_missing_rows_and_pooling(tmp_path):
    rng = np.random.default_rng(0)
    # rows shuffled; video c has no row; zz is not in the dataset; N = 8 clips = 2 x n_clips
    tokens = ["b", "zz", "d", "a"]
    raw = rng.standard_normal((len(tokens), 8, 3)).astype(np.float32)
    dataset = load(write_views(tmp_path / "data", clips=(tokens, raw)))
    features = dataset.clip_features
    assert tuple(features.shape) == (dataset.item_num, 4, 3)
    pooled = raw.reshape(4, 4, 2, 3).mean(axis=2)
    for row, token in enumerate(tokens):
        if token in ("a", "b"):
            np.testing.assert_allclose(features[dataset.token2id("item_id", token)].numpy(), pooled[row], rtol=1e-6)
    # c has no row: the mean, at each clip position, of the dataset's known rows (a and b, not zz or d)
    mean = pooled[[0, 3]].mean(axis=0)
    np.testing.assert_allclose(features[dataset.token2id("item_id", "c")].numpy(), mean, rtol=1e-5)


def test_clip_features_zero_fill_and_bad_clip_counts(tmp_path):
    raw = np.ones((2, 4, 2), dtype=np.float32)
    dataset = load(write_views(tmp_path / "one", clips=(["a", "b"], raw)), missing_feature_fill="zero")
    assert dataset.clip_features[dataset.token2id("item_id", "c")].abs().sum() == 0
    with pytest.raises(ValueError, match="neither n_clips"):
        load(write_views(tmp_path / "two", clips=(["a", "b"], np.ones((2, 6, 2)))))
    with pytest.raises(ValueError, match="one token per row"):
        load(write_views(tmp_path / "three", clips=(["a"], raw)))


def test_missing_watch_fields_is_a_clear_error(tmp_path):
    root = write_views(tmp_path / "data", yaml_text="load_col: {inter: [user_id, item_id, timestamp]}\n")
    with pytest.raises(ValueError, match="play_time"):
        load(root)


def test_pre_split_files_keep_their_sizes_in_step(tmp_path):
    folder = tmp_path / "data" / NAME
    folder.mkdir(parents=True)
    header = "user_id:token\titem_id:token\tplay_time:float\tduration:float\n"
    parts = {"train": ["u1\ta\t3\t10", "u1\tb\t-1\t10", "u2\ta\t10\t10", "u2\tb\t1\t10"],
             "valid": ["u1\tc\t1\t0", "u2\tc\t4\t10"], "test": ["u1\td\t2\t10", "u2\td\t9\t10"]}
    for part, lines in parts.items():
        (folder / f"{NAME}.{part}.inter").write_text(header + "\n".join(lines) + "\n")
    (folder / f"{NAME}.yaml").write_text("load_col: ~\nbenchmark_filename: [train, valid, test]\n")
    dataset = load(str(tmp_path / "data"))
    assert dataset.file_size_list == [3, 1, 2]
    train, valid, test = dataset.build()
    assert (len(train), len(valid), len(test)) == (3, 1, 2)
