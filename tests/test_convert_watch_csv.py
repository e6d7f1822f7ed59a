"""Converter for the plain watch-time log (user_id,item_id,playing_time_ms,duration_ms[,timestamp])."""

import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from recbole_denoise.config import Config
from recbole_denoise.data.convert import reader, watch_csv
from recbole_denoise.data.convert.__main__ import main
from recbole_denoise.data.convert.writer import ConversionError
from recbole_denoise.data.watch_time_dataset import WatchTimeDataset
from recbole_denoise.utils import create_dataset

RAW = Path(__file__).resolve().parent / "fixtures" / "watch_csv" / "interactions.csv"


def config_for(out: Path) -> Config:
    return Config(model="BPR", dataset=out.name, config_dict={"state": "ERROR", "data_path": str(out.parent)})


def read_inter(out: Path) -> pd.DataFrame:
    frame = pd.read_csv(out / f"{out.name}.inter", sep="\t", dtype=str)
    frame.columns = [c.split(":")[0] for c in frame.columns]
    return frame


def test_round_trip_with_the_package_loaders(tmp_path):
    out = tmp_path / "data" / "views"
    summary = watch_csv.convert(RAW, out, quiet=True)
    assert (summary.rows_read, summary.rows_kept) == (8, 5)
    assert summary.dropped == {"zero or negative duration": 1, "negative play time": 1,
                               "repeated view of the same (user, video) (kept the longest)": 1}
    frame = read_inter(out)
    assert list(frame.columns) == ["user_id", "item_id", "play_time", "duration"]
    rows = {(u, i): (p, d) for u, i, p, d in frame.values.tolist()}
    assert rows[("0", "0")] == ("0.863", "30.066")  # milliseconds -> seconds
    assert rows[("1", "3")] == ("12", "12")  # of two views the longest is kept
    config = yaml.safe_load((out / "views.yaml").read_text())
    assert config["eval_args"] == {"split": {"RS": [0.6, 0.2, 0.2]}, "group_by": "user", "order": "RO",
                                   "mode": "labeled"}
    assert config["own_items_eval"] is True and config["topk"] == [3, 5]
    assert config["LABEL_FIELD"] == "full_watch" and "play_time" in config["ground_truth_fields"]

    recbole_config = config_for(out)
    assert create_dataset(recbole_config).inter_num == 5
    dataset = WatchTimeDataset(recbole_config)
    full = {(dataset.id2token("user_id", u), dataset.id2token("item_id", i))
            for u, i, f in zip(dataset.inter_feat["user_id"], dataset.inter_feat["item_id"],
                               dataset.inter_feat["full_watch"]) if f == 1}
    assert full == {("0", "2"), ("1", "3")}  # 31 s of 25.266 s (a replay) and 12 s of 12 s


def test_optional_timestamp_orders_the_split_by_time(tmp_path):
    raw = tmp_path / "raw" / "log.csv"
    raw.parent.mkdir()
    raw.write_text("user_id,item_id,playing_time_ms,duration_ms,timestamp,comment\n"
                   "a,x,1000,2000,1650000000,hi\na,y,2000,2000,1650000100,\nb,x,500,2000,1650000200,ok\n")
    out = tmp_path / "data" / "timed"
    summary = watch_csv.convert(raw.parent, out, quiet=True)
    assert summary.stats["log.csv: columns ignored"] == "comment"
    assert read_inter(out)["timestamp"].tolist() == ["1650000000", "1650000100", "1650000200"]
    assert yaml.safe_load((out / "timed.yaml").read_text())["eval_args"]["order"] == "TO"


@pytest.mark.parametrize("line, text, field, detail", [
    (3, "0,1,1.5s,132433", "playing_time_ms", "bad number"),
    (2, " ,0,863,30066", "user_id", "missing id"),
    (4, "1,0,5000,30066,7", "columns", "wrong number of columns"),
])
def test_bad_rows_name_file_line_and_field(tmp_path, line, text, field, detail):
    lines = RAW.read_text().splitlines()
    lines[line - 1] = text
    raw = tmp_path / "bad.csv"
    raw.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConversionError, match=detail) as caught:
        watch_csv.convert(raw, tmp_path / "data" / "bad", quiet=True)
    error = caught.value
    assert (error.line, error.field) == (line, field) and error.file == str(raw)
    assert not (tmp_path / "data" / "bad").exists()


def test_missing_column_is_an_error_on_the_header(tmp_path):
    raw = tmp_path / "log.csv"
    raw.write_text("user_id,item_id,duration_ms\n0,0,1000\n")
    with pytest.raises(ConversionError, match="required column") as caught:
        watch_csv.convert(raw, tmp_path / "data" / "x", quiet=True)
    assert (caught.value.line, caught.value.field) == (1, "playing_time_ms")


def test_failed_overwrite_keeps_the_earlier_output(tmp_path):
    out = tmp_path / "data" / "views"
    watch_csv.convert(RAW, out, quiet=True)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    bad = tmp_path / "bad.csv"
    bad.write_text(RAW.read_text().replace("12000,12000", "12000,twelve"))
    with pytest.raises(ConversionError):
        watch_csv.convert(bad, out, overwrite=True, quiet=True)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["views"]  # no partial folder left
    with pytest.raises(ConversionError, match="exists"):
        watch_csv.convert(RAW, out, quiet=True)


def test_cli(tmp_path, capsys):
    raw = tmp_path / "raw"
    raw.mkdir()
    shutil.copy(RAW, raw / "interactions.csv")
    out = tmp_path / "data" / "views"
    assert main(["watch-csv", "--raw", str(raw), "--out", str(out)]) == 0
    assert "rows read: 8, kept: 5" in capsys.readouterr().out
    assert main(["watch-csv", "--raw", str(raw / "missing.csv"), "--out", str(tmp_path / "data" / "y")]) == 1


# --------------------------------------------------------------------------- a split the user already has

SPLIT = RAW.parent / "split"
SPLIT_ROWS = {  # (user, item, play seconds) of every row kept, per file, in file order
    "train": [("u1", "v1", 3.0), ("u1", "v2", 10.0), ("u2", "v1", 0.5), ("u3", "v2", 20.0), ("u1", "v3", 2.0)],
    "valid": [("u1", "v4", 4.0), ("u2", "v2", 10.0), ("u3", "v3", 9.0)],
    "test": [("u1", "v5", 6.0), ("u2", "v4", 1.0), ("u3", "v5", 5.0), ("u2", "v3", 20.0)],
}


def split_rows(dataset):
    """(user token, item token, play time) of every row of a built RecBole split."""
    frame = dataset.inter_feat
    users = dataset.id2token("user_id", frame["user_id"].numpy())
    items = dataset.id2token("item_id", frame["item_id"].numpy())
    return [(u, i, round(float(p), 6)) for u, i, p in zip(users, items, frame["play_time"].numpy())]


def test_split_round_trip_keeps_each_files_rows_in_its_split(tmp_path):
    out = tmp_path / "data" / "my_split"
    summary = watch_csv.convert(SPLIT, out, train="train.csv", valid="valid.csv", test="test.csv", quiet=True)
    # the same cleaning as one log, over the three files together
    assert (summary.rows_read, summary.rows_kept) == (16, 12)
    assert summary.dropped == {"zero or negative duration": 1, "missing play time": 1,
                               "repeated view of the same (user, video) (kept the longest)": 2}
    assert summary.stats["(user, video) pairs in more than one file"] == 1  # u2, v3: train 8 s, test 20 s
    assert sorted(p.name for p in out.iterdir()) == ["conversion.json", "my_split.test.inter",
                                                     "my_split.train.inter", "my_split.valid.inter", "my_split.yaml"]
    config = yaml.safe_load((out / "my_split.yaml").read_text())
    assert config["benchmark_filename"] == ["train", "valid", "test"]
    assert config["load_col"] == {"inter": ["user_id", "item_id", "play_time", "duration", "timestamp"]}
    assert config["eval_args"]["mode"] == "labeled" and config["valid_metric"] == "Recall@3"

    recbole_config = config_for(out)
    dataset = create_dataset(recbole_config)
    assert isinstance(dataset, WatchTimeDataset) and dataset.watch_rows_dropped == {}  # nothing more at load
    assert dataset.file_size_list == [5, 3, 4]
    train, valid, test = dataset.build()
    assert [split_rows(d) for d in (train, valid, test)] == [SPLIT_ROWS[s] for s in ("train", "valid", "test")]
    # one id space: u1 of the test file is u1 of the training file
    assert dataset.token2id("user_id", "u1") == train.inter_feat["user_id"][0] == test.inter_feat["user_id"][0]


def test_a_folder_of_train_valid_test_csv_is_a_split(tmp_path):
    out = tmp_path / "data" / "found"
    summary = watch_csv.convert(SPLIT, out, quiet=True)
    assert summary.stats["train rows"] == 5 and summary.stats["test rows"] == 4
    assert yaml.safe_load((out / "found.yaml").read_text())["benchmark_filename"] == ["train", "valid", "test"]


def test_split_cli(tmp_path, capsys):
    raw = tmp_path / "raw"
    raw.mkdir()
    for split in ("train", "valid", "test"):
        shutil.copy(SPLIT / f"{split}.csv", raw / f"{split}_views.csv")
    shutil.copy(RAW, raw / "interactions.csv")  # the split options win over the one-log default
    out = tmp_path / "data" / "views"
    assert main(["watch-csv", "--raw", str(raw), "--train", "train_views.csv", "--valid", "valid_views.csv",
                 "--test", str(raw / "test_views.csv"), "--out", str(out)]) == 0
    assert "rows read: 16, kept: 12" in capsys.readouterr().out
    assert (out / "views.valid.inter").is_file() and not (out / "views.inter").exists()


def test_split_needs_all_three_files(tmp_path):
    with pytest.raises(ConversionError, match="all three") as caught:
        watch_csv.convert(SPLIT, tmp_path / "data" / "x", train="train.csv", test="test.csv", quiet=True)
    assert caught.value.field == "valid"
    with pytest.raises(ConversionError, match="valid file not found"):
        watch_csv.convert(SPLIT, tmp_path / "data" / "x", train="train.csv", valid="nope.csv", test="test.csv",
                          quiet=True)


def split_copy(tmp_path, split, line, text):
    raw = tmp_path / "raw"
    shutil.copytree(SPLIT, raw)
    lines = (raw / f"{split}.csv").read_text().splitlines()
    lines[line - 1] = text
    (raw / f"{split}.csv").write_text("\n".join(lines) + "\n")
    return raw


@pytest.mark.parametrize("split, line, text, field", [
    ("test", 4, "u3,v5,2s,6000,302", "playing_time_ms"),
    ("valid", 2, "u1,v4,4000,8000,soon", "timestamp"),
    ("train", 3, "u1,v 2,10000,10000,101", "item_id"),
])
def test_bad_row_in_a_split_file_names_file_line_and_field(tmp_path, split, line, text, field):
    raw = split_copy(tmp_path, split, line, text)
    with pytest.raises(ConversionError) as caught:
        watch_csv.convert(raw, tmp_path / "data" / "bad", quiet=True)
    assert (caught.value.file, caught.value.line, caught.value.field) == (str(raw / f"{split}.csv"), line, field)
    assert not (tmp_path / "data" / "bad").exists()


def test_split_files_must_agree_on_the_timestamp_column(tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(SPLIT, raw)
    rows = [line.rsplit(",", 1)[0] for line in (raw / "valid.csv").read_text().splitlines()]
    (raw / "valid.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(ConversionError, match="differ in their columns") as caught:
        watch_csv.convert(raw, tmp_path / "data" / "bad", quiet=True)
    assert (caught.value.file, caught.value.line, caught.value.field) == (str(raw / "valid.csv"), 1, "timestamp")
    assert not (tmp_path / "data").exists()


def test_reading_in_many_blocks_gives_the_same_dataset(tmp_path, monkeypatch):
    whole = watch_csv.convert(RAW, tmp_path / "whole" / "w", quiet=True)
    monkeypatch.setattr(reader, "BLOCK_BYTES", 40)  # a block of one or two rows: ids recoded across chunks
    blocks = watch_csv.convert(RAW, tmp_path / "blocks" / "w", quiet=True)
    assert (tmp_path / "blocks" / "w" / "w.inter").read_bytes() == (tmp_path / "whole" / "w" / "w.inter").read_bytes()
    assert blocks.rows_read == whole.rows_read and blocks.dropped == whole.dropped
