"""The plain feedback layout (feedback-csv): hand-written fixtures in the kuairand-likehate
layout (tab-separated) and a comma-separated log with item features."""

from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from recbole_denoise.config import Config
from recbole_denoise.data.convert import feedback_csv
from recbole_denoise.data.convert.__main__ import build_parser, main
from recbole_denoise.data.convert.writer import ConversionError
from recbole_denoise.data.feedback_dataset import NO_ITEM, FeedbackHistoryDataset
from recbole_denoise.utils import create_dataset

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "feedback_csv"
LIKEHATE = FIXTURES / "interactions.tsv"
PLAIN = FIXTURES / "plain.csv"
# the command of the help epilog and the README, on the fixture in the same layout
LIKEHATE_FLAGS = ["--user-column", "user_id", "--item-column", "video_id", "--time-column", "time_ms",
                  "--label-column", "label", "--click-column", "is_click", "--like-column", "label",
                  "--dislike-column", "1-label"]
PLAIN_OPTIONS = dict(user_column="uid", item_column="item", time_column="t", label_column="y",
                     click_column="clicked", like_column="liked", dislike_column="disliked",
                     item_features=["brand", "category"])


def read_table(out: Path, suffix: str) -> pd.DataFrame:
    frame = pd.read_csv(out / f"{out.name}.{suffix}", sep="\t", dtype=str, keep_default_na=False)
    frame.columns = [c.split(":")[0] for c in frame.columns]
    return frame


def test_likehate_layout_round_trip_by_the_documented_command(tmp_path, capsys):
    out = tmp_path / "data" / "likehate"
    assert main(["feedback-csv", "--raw", str(LIKEHATE), "--out", str(out), *LIKEHATE_FLAGS]) == 0
    assert "rows read: 15, kept: 15, dropped: 0" in capsys.readouterr().out
    raw = pd.read_csv(LIKEHATE, sep="\t", dtype=str)
    inter = read_table(out, "inter")
    assert list(inter.columns) == ["user_id", "item_id", "timestamp", "label", "click", "like", "dislike"]
    assert inter["user_id"].tolist() == raw["user_id"].tolist()
    assert inter["item_id"].tolist() == raw["video_id"].tolist()
    assert inter["timestamp"].tolist() == raw["time_ms"].tolist()  # ms kept exactly
    assert inter["click"].tolist() == raw["is_click"].tolist()
    assert inter["label"].tolist() == inter["like"].tolist() == raw["label"].tolist()
    assert inter["dislike"].tolist() == [str(1 - int(v)) for v in raw["label"]]
    config = yaml.safe_load((out / "likehate.yaml").read_text())
    assert config["dataset_class"] == "FeedbackHistoryDataset" and config["LABEL_FIELD"] == "label"
    assert config["load_col"] == {"inter": ["user_id", "item_id", "timestamp", "label", "click", "like", "dislike"]}
    assert config["feedback_fields"] == {"click": "click", "like": "like", "dislike": "dislike"}
    assert config["feedback_events"] is None and config["history_item_fields"] == ["item_id"]
    assert config["eval_args"] == {"split": {"RS": [0.7, 0.1, 0.2]}, "group_by": "user", "order": "TO",
                                   "mode": "labeled"}
    assert (config["metrics"], config["valid_metric"], config["numerical_features"]) == (["AUC", "LogLoss"], "AUC",
                                                                                         [])


def test_the_split_is_the_last_20_percent_of_each_users_rows_in_time(tmp_path):
    out = tmp_path / "data" / "likehate"
    feedback_csv.convert(LIKEHATE, out, quiet=True, user_column="user_id", item_column="video_id",
                         time_column="time_ms", label_column="label", click_column="is_click",
                         like_column="label", dislike_column="1-label")
    config = Config(model="WideDeep", dataset="likehate",
                    config_dict={"state": "ERROR", "data_path": str(out.parent), "show_progress": False})
    dataset = create_dataset(config)
    assert isinstance(dataset, FeedbackHistoryDataset)
    train, valid, test = dataset.build()
    raw = pd.read_csv(LIKEHATE, sep="\t")

    def times(part, user):
        uid = part.token2id("user_id", str(user))
        rows = part.inter_feat["user_id"].numpy() == uid
        return sorted(part.inter_feat["timestamp"].numpy()[rows].tolist())

    for user, (n_valid, n_test) in {10: (1, 2), 12: (1, 1)}.items():  # 10 rows: 7/1/2; 5 rows: 3/1/1
        mine = sorted(raw.loc[raw["user_id"] == user, "time_ms"].astype(float).tolist())
        assert times(test, user) == mine[len(mine) - n_test:]
        assert times(valid, user) == mine[len(mine) - n_test - n_valid:len(mine) - n_test]
        assert times(train, user) == mine[:len(mine) - n_test - n_valid]
    # float64 times survive into the batches (ms since 1970 do not fit float32)
    assert test.inter_feat["timestamp"].dtype.is_floating_point and 1649392400000.0 in times(test, 10)
    histories = dataset.feedback_histories
    assert [histories.n_events(kind) for kind in ("click", "unclick", "like", "dislike")] == [10, 5, 10, 5]


def test_plain_csv_with_item_features_and_unobserved_marks(tmp_path):
    out = tmp_path / "data" / "plain"
    summary = feedback_csv.convert(PLAIN, out, quiet=True, **PLAIN_OPTIONS)
    assert (summary.rows_read, summary.rows_kept) == (5, 5)
    inter = read_table(out, "inter")
    assert inter[["user_id", "item_id", "timestamp", "label", "click", "like", "dislike"]].values.tolist() == [
        ["a", "i1", "100", "1", "1", "1", ""], ["a", "i2", "101", "0", "0", "", ""],
        ["a", "i1", "102", "0", "1", "", "1"], ["b", "i3", "50", "1", "", "1", ""],
        ["b", "i2", "60", "1", "1", "", ""]]
    items = read_table(out, "item")
    assert items.values.tolist() == [["i1", "b,1", "c1"], ["i2", "b2", "c1"], ["i3", "", "c2"]]
    config = yaml.safe_load((out / "plain.yaml").read_text())
    assert config["history_item_fields"] == ["item_id", "brand", "category"]
    assert config["load_col"]["item"] == ["item_id", "brand", "category"]
    dataset = create_dataset(Config(model="WideDeep", dataset="plain", config_dict={
        "state": "ERROR", "data_path": str(out.parent), "show_progress": False}))
    users = torch.as_tensor(dataset.token2id("user_id", ["a"]))
    ids, mask, _ = dataset.feedback_histories.window("like", users, torch.tensor([103.0], dtype=torch.float64), 3)
    assert mask.tolist() == [[False, False, True]]
    assert dataset.id2token("brand", ids["brand"][0, 2].item()) == "b,1"
    assert dataset.feedback_histories.n_events("dislike") == 1 and NO_ITEM not in dataset.field2token_id["item_id"]


def test_a_kind_without_a_column_is_absent(tmp_path):
    out = tmp_path / "data" / "clicks"
    feedback_csv.convert(PLAIN, out, quiet=True, user_column="uid", item_column="item", time_column="t",
                         label_column="y", click_column="clicked")
    inter = read_table(out, "inter")
    assert set(inter["like"]) == set(inter["dislike"]) == {""}
    config = yaml.safe_load((out / "clicks.yaml").read_text())
    assert config["feedback_fields"] == {"click": "click", "like": None, "dislike": None}


def spoil(tmp_path: Path, source: Path, line: int, column: int, value: str, sep: str) -> Path:
    path = tmp_path / source.name
    lines = source.read_text().splitlines()
    cells = lines[line - 1].split(sep)
    cells[column] = value
    lines[line - 1] = sep.join(cells)
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("line, column, value, field, problem", [
    (3, 5, "2", "is_click", "bad flag"),
    (4, 4, "12:00", "time_ms", "bad number"),
    (5, 14, "", "label", "missing flag"),
    (6, 1, "", "video_id", "missing id"),
    (7, 14, "1 ", "label", None),  # spaces around a value are stripped: not an error
])
def test_bad_rows_name_file_line_and_field(tmp_path, line, column, value, field, problem):
    path = spoil(tmp_path, LIKEHATE, line, column, value, "\t")
    out = tmp_path / "data" / "bad"
    options = dict(user_column="user_id", item_column="video_id", time_column="time_ms", label_column="label",
                   click_column="is_click", like_column="label", dislike_column="1-label", quiet=True)
    if problem is None:
        assert feedback_csv.convert(path, out, **options).rows_kept == 15
        return
    with pytest.raises(ConversionError, match=problem) as caught:
        feedback_csv.convert(path, out, **options)
    assert (caught.value.file, caught.value.line, caught.value.field) == (str(path), line, field)
    assert not out.parent.exists() or list(out.parent.iterdir()) == []  # nothing at or beside --out


def test_wrong_field_count_missing_column_and_feature_clash(tmp_path):
    path = tmp_path / "plain.csv"
    path.write_text(PLAIN.read_text().replace("a,i2,101,0,,,0,b2,c1", "a,i2,101,0,,,0,b2,c1,extra"))
    with pytest.raises(ConversionError, match="wrong number of columns") as caught:
        feedback_csv.convert(path, tmp_path / "data" / "x", quiet=True, **PLAIN_OPTIONS)
    assert (caught.value.line, caught.value.field) == (3, "columns")
    with pytest.raises(ConversionError, match="column missing from the header") as caught:
        feedback_csv.convert(PLAIN, tmp_path / "data" / "x", quiet=True, **{**PLAIN_OPTIONS, "like_column": "1-lk"})
    assert (caught.value.file, caught.value.line, caught.value.field) == (str(PLAIN), 1, "lk")
    path.write_text(PLAIN.read_text().replace('a,i1,102,1,,1,0,"b,1",c1', 'a,i1,102,1,,1,0,b9,c1'))
    with pytest.raises(ConversionError, match="item feature differs") as caught:
        feedback_csv.convert(path, tmp_path / "data" / "x", quiet=True, **PLAIN_OPTIONS)
    assert (caught.value.line, caught.value.field) == (4, "brand")
    assert "as on line 2" in str(caught.value)
    assert not (tmp_path / "data" / "x").exists()


@pytest.mark.parametrize("split", [(0.8, 0.0, 0.2), (0.7, 0.3)])
def test_a_split_without_validation_is_refused(tmp_path, split):
    with pytest.raises(ConversionError, match="three positive shares") as caught:
        feedback_csv.convert(PLAIN, tmp_path / "data" / "x", quiet=True, split=split, **PLAIN_OPTIONS)
    assert caught.value.field == "split"


def test_help_carries_the_likehate_command(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["feedback-csv", "--help"])
    text = capsys.readouterr().out
    assert "--like-column label --dislike-column 1-label" in " ".join(text.split())
    epilog = " ".join(text[text.index("Your own log needs no code"):].split())
    assert "the last 20% of each user's rows in time as test: python -m recbole_denoise.data.convert feedback-csv" \
        in epilog
