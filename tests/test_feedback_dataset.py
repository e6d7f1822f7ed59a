"""FeedbackHistoryDataset on small hand-written atomic files: leak-free histories across the
split, float64 times, .feedback events in the shared id spaces, absent kinds, errors."""

import logging
import os

import pytest
import torch
from recbole.utils import FeatureSource

from recbole_denoise.config import Config
from recbole_denoise.data.feedback_dataset import FeedbackHistoryDataset
from recbole_denoise.data.feedback_histories import KINDS

NAME = "fb"
T0 = 1.6e12  # ms: float32 cannot tell T0 from T0 + 1
HEADER = "user_id:token\titem_id:token\ttimestamp:float\tlabel:float\tclick:float\tlike:float\tdislike:float"
# user, item, time offset (ms), label, click, like, dislike ("" = not observed)
ROWS = [
    ("u1", "i1", 0, 1, 1, 1, ""),  # click + like
    ("u1", "i2", 1, 0, 0, "", ""),  # unclick, 1 ms later
    ("u1", "i3", 2, 1, 1, "", 1),  # click + dislike (an accidental click)
    ("u1", "i4", 2, 1, 1, "", ""),  # click at the same time as i3
    ("u1", "i1", 3, 1, 1, "", ""),
    ("u1", "i2", 4, 0, 0, "", ""),
    ("u1", "i3", 5, 1, 1, "", ""),
    ("u1", "i4", 6, 1, 1, "", ""),
    ("u1", "i1", 7, 0, 0, "", ""),
    ("u1", "i2", 8, 1, 1, 1, ""),
    ("u2", "i2", 0, 1, 1, "", ""),
    ("u2", "i3", 10, 0, 0, "", 1),
    ("u2", "i4", 20, 1, 1, "", ""),
    ("u2", "i1", 30, 1, 1, "", ""),
    ("u2", "i2", 40, 0, 0, "", ""),
]
ITEMS = [("i1", "c1", "b1"), ("i2", "c1", "b2"), ("i3", "c2", "b2"), ("i4", "c2", "b3")]
# user, time offset, kind, item, cate, brand: a behaviour log without item ids, and one event with an item
FEEDBACK = [
    ("u1", -5, "like", "[NO_ITEM]", "c9", "b9"),  # category and brand no ad has
    ("u1", -4, "click", "i4", "", ""),  # features from .item
    ("u3", -1, "like", "[NO_ITEM]", "c1", "b1"),  # a user with no samples
]
YAML = """\
load_col: {inter: [user_id, item_id, timestamp, label, click, like, dislike], item: [item_id, cate_id, brand]}
LABEL_FIELD: label
feedback_fields: {click: click, like: like, dislike: dislike}
feedback_events: feedback
history_item_fields: [item_id, cate_id, brand]
history_length: 4
eval_args: {split: {RS: [0.6, 0.2, 0.2]}, order: TO, group_by: user, mode: labeled}
"""


def write(root, rows=ROWS, feedback=FEEDBACK, yaml_text=YAML, header=HEADER):
    folder = os.path.join(root, NAME)
    os.makedirs(folder, exist_ok=True)

    def table(suffix, head, lines):
        with open(os.path.join(folder, f"{NAME}.{suffix}"), "w") as handle:
            handle.write("\n".join([head] + ["\t".join(str(v) for v in line) for line in lines]) + "\n")

    table("inter", header, [(u, i, f"{T0 + dt:.0f}", *rest) for u, i, dt, *rest in rows])
    table("item", "item_id:token\tcate_id:token\tbrand:token", ITEMS)
    if feedback is not None:
        table("feedback", "user_id:token\ttimestamp:float\tkind:token\titem_id:token\tcate_id:token\tbrand:token",
              [(u, dt if isinstance(dt, str) else f"{T0 + dt:.0f}", *rest) for u, dt, *rest in feedback])
    with open(os.path.join(folder, f"{NAME}.yaml"), "w") as handle:
        handle.write(yaml_text)
    return str(root)


def load(data_path, **overrides):
    config = Config(model="WideDeep", dataset=NAME,
                    config_dict={"state": "ERROR", "data_path": data_path, **overrides})
    return FeedbackHistoryDataset(config)


def tokens(dataset, field, ids):
    return [dataset.id2token(field, int(i)) for i in ids]


def window_tokens(dataset, kind, user, time, length=8, field="item_id"):
    users = torch.tensor([dataset.token2id("user_id", user)])
    ids, mask, _ = dataset.feedback_histories.window(kind, users, torch.tensor([time], dtype=torch.float64), length)
    return tokens(dataset, field, ids[field][0][mask[0]])


def test_float64_times_survive_into_the_interaction(tmp_path):
    dataset = load(write(tmp_path))
    train, _, _ = dataset.build()
    times = dataset.inter_feat["timestamp"]  # an Interaction after build
    assert times.dtype == torch.float64 and train.inter_feat["timestamp"].dtype == torch.float64
    assert sorted(set((times - T0).tolist())) == [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 20, 30, 40]
    # the sample 1 ms after the first sees it; the first sees nothing of its own time
    assert window_tokens(dataset, "click", "u1", T0 + 1) == ["i4", "i1"]  # .feedback click at -4, row 0
    assert window_tokens(dataset, "click", "u1", T0) == ["i4"]


def test_split_samples_read_earlier_rows_of_every_split_and_no_later_ones(tmp_path):
    dataset = load(write(tmp_path))
    train, valid, test = dataset.build()
    assert train.feedback_histories is dataset.feedback_histories is test.feedback_histories
    assert test.inter_feat["timestamp"].dtype == torch.float64
    uid = dataset.token2id("user_id", "u1")
    rows = test.inter_feat[test.inter_feat["user_id"] == uid]
    assert (rows["timestamp"] - T0).tolist() == [7, 8]  # the last 20% of u1's rows in time
    for time in rows["timestamp"].tolist():
        users = torch.tensor([uid])
        for kind in KINDS:
            ids, mask, _ = dataset.feedback_histories.window(kind, users, torch.tensor([time], dtype=torch.float64), 20)
            got = tokens(dataset, "item_id", ids["item_id"][0][mask[0]])
            assert got == expected_window(kind, "u1", time - T0), (kind, time)
    # the test sample at +7 sees train rows (e.g. the click of i4 at +6), not the valid / test rows after it
    assert window_tokens(dataset, "click", "u1", T0 + 7, length=3) == ["i1", "i3", "i4"]


def expected_window(kind, user, offset):
    """By hand from ROWS and FEEDBACK: the user's events of ``kind`` strictly before ``offset``."""
    events = []
    for u, item, dt, _, click, like, dislike in ROWS:
        marks = {"click": click == 1, "unclick": click == 0, "like": like == 1, "dislike": dislike == 1}
        if u == user and dt < offset and marks[kind]:
            events.append((dt, item))
    events += [(dt, item) for u, dt, k, item, _, _ in FEEDBACK if u == user and k == kind and dt < offset]
    return [item for _, item in sorted(events, key=lambda event: event[0])]


def test_no_item_events_carry_their_own_features_and_share_the_id_spaces(tmp_path):
    dataset = load(write(tmp_path))
    at = T0 + 100
    assert window_tokens(dataset, "like", "u1", at) == ["[NO_ITEM]", "i1", "i2"]
    assert window_tokens(dataset, "like", "u1", at, field="cate_id") == ["c9", "c1", "c1"]
    assert window_tokens(dataset, "like", "u1", at, field="brand") == ["b9", "b1", "b2"]
    # an event with an item and empty feature cells takes the item's features
    assert window_tokens(dataset, "click", "u1", T0 + 1, field="brand") == ["b3", "b1"]
    # the same token means the same id in .inter, .item and .feedback
    assert window_tokens(dataset, "like", "u3", at, field="cate_id") == ["c1"]
    assert dataset.token2id("cate_id", "c1") == dataset.item_feat["cate_id"][dataset.token2id("item_id", "i1")]
    assert dataset.num("cate_id") == 4  # [PAD], c1, c2 and c9 (only in .feedback)


def test_a_dataset_without_a_dislike_column_has_empty_dislike_windows(tmp_path, caplog):
    rows = [row[:-1] for row in ROWS]
    yaml_text = (YAML.replace(", dislike]", "]").replace("dislike: dislike", "dislike: ~")
                 .replace("feedback_events: feedback", "feedback_events: ~"))
    with caplog.at_level(logging.WARNING):
        dataset = load(write(tmp_path, rows=rows, feedback=None, yaml_text=yaml_text,
                             header=HEADER.replace("\tdislike:float", "")))
    ids, mask, _ = dataset.feedback_histories.window(
        "dislike", torch.tensor([1, 2]), torch.tensor([T0 + 99, T0 + 99], dtype=torch.float64), 4)
    assert not mask.any() and (ids["item_id"] == 0).all()
    warnings = [r.getMessage() for r in caplog.records if "no dislike events" in r.getMessage()]
    assert len(warnings) == 1 and "feedback_fields.dislike is ~" in warnings[0]
    assert window_tokens(dataset, "like", "u1", T0 + 99) == ["i1", "i2"]


def test_feedback_columns_are_hidden_from_model_fields(tmp_path):
    dataset = load(write(tmp_path))
    visible = dataset.fields(source=[FeatureSource.INTERACTION])
    assert not {"click", "like", "dislike"} & set(visible)


def test_bad_settings_and_rows_are_errors_naming_them(tmp_path):
    bad_kind = FEEDBACK + [("u1", 3, "share", "i1", "", "")]
    with pytest.raises(ValueError, match=r"fb\.feedback, line 5, field \[kind\]: 'share'"):
        load(write(tmp_path / "a", feedback=bad_kind))
    bad_click = ROWS[:3] + [("u1", "i4", 2, 1, 2, "", "")]
    with pytest.raises(ValueError, match=r"fb\.inter, line 5, field \[click\]: 2\.0 is not 0, 1 or empty"):
        load(write(tmp_path / "b", rows=bad_click))
    with pytest.raises(ValueError, match=r"history_item_fields names \[price\]"):
        load(write(tmp_path / "c"), history_item_fields=["item_id", "price"])
    with pytest.raises(ValueError, match=r"feedback_fields.like = 'likes'"):
        load(write(tmp_path / "d"), feedback_fields={"click": "click", "like": "likes"})
    with pytest.raises(ValueError, match=r"history_length = 0"):
        load(write(tmp_path / "e"), history_length=0)
    bad_time = FEEDBACK + [("u1", "12:30", "like", "i1", "", "")]
    with pytest.raises(ValueError, match=r"fb\.feedback, line 5, field \[timestamp\]: '12:30' is not a number"):
        load(write(tmp_path / "g", feedback=bad_time))
    no_user = [("", 1, "like", "i1", "", "")]
    with pytest.raises(ValueError, match=r"fb\.feedback, line 2, field \[user_id\]: empty"):
        load(write(tmp_path / "f", feedback=no_user))


def test_create_dataset_honours_the_dataset_yaml(tmp_path):
    from recbole_denoise.utils import create_dataset

    data_path = write(tmp_path, yaml_text=YAML + "dataset_class: FeedbackHistoryDataset\n")
    config = Config(model="WideDeep", dataset=NAME, config_dict={"state": "ERROR", "data_path": data_path})
    assert type(create_dataset(config)) is FeedbackHistoryDataset


def test_pre_split_files_name_the_file_and_line_of_a_bad_row(tmp_path):
    folder = write(tmp_path, yaml_text=YAML + "benchmark_filename: [train, test]\n")
    lines = open(os.path.join(folder, NAME, f"{NAME}.inter")).read().splitlines()
    with open(os.path.join(folder, NAME, f"{NAME}.train.inter"), "w") as handle:
        handle.write("\n".join(lines[:4]) + "\n")
    bad = lines[5].split("\t")
    bad[4] = "0.5"  # click
    with open(os.path.join(folder, NAME, f"{NAME}.test.inter"), "w") as handle:
        handle.write("\n".join([lines[0], lines[4], "\t".join(bad)]) + "\n")
    with pytest.raises(ValueError, match=r"fb\.test\.inter, line 3, field \[click\]: 0\.5 is not 0, 1 or empty"):
        load(folder)
    with open(os.path.join(folder, NAME, f"{NAME}.test.inter"), "w") as handle:
        handle.write("\n".join([lines[0], lines[4], lines[5]]) + "\n")
    dataset = load(folder)
    train, test = dataset.build()
    assert len(train) == 3 and len(test) == 2
    # the test row at +4 sees the train rows' clicks (+0, +2 twice) and the test row at +3
    assert window_tokens(dataset, "click", "u1", T0 + 4) == ["i4", "i1", "i3", "i4", "i1"]


def test_chunked_categorical_read_matches_a_whole_file_read(tmp_path):
    """Tokens first seen in a later chunk, and empty cells, survive the chunk-by-chunk merge
    of categories (2-row chunks here; 2M rows at Taobao scale)."""
    import numpy as np
    import pandas as pd

    from recbole_denoise.data.feedback_dataset import read_categorical_csv

    path = tmp_path / "t.inter"
    path.write_text("user_id:token\titem_id:token\ttimestamp:float\n"
                    "u1\ti1\t1\nu2\t\t2\nu3\ti2\t3\nu1\ti3\t4\n\ti1\t5\n")
    dtypes = {"user_id:token": "category", "item_id:token": "category", "timestamp:float": np.float64}
    chunked = read_categorical_csv(str(path), "\t", dtypes, "utf-8", chunk_rows=2)
    assert chunked["user_id:token"].astype(object).tolist()[:4] == ["u1", "u2", "u3", "u1"]
    assert pd.isna(chunked["user_id:token"].iloc[4]) and pd.isna(chunked["item_id:token"].iloc[1])
    assert chunked["item_id:token"].cat.codes.tolist() == [0, -1, 1, 2, 0]  # one vocabulary across chunks
    assert chunked["timestamp:float"].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
