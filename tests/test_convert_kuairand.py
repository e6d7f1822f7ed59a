"""Converter for KuaiRand logs with user and video features (hand-written KuaiRand-Pure fixture)."""

import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from recbole_denoise.config import Config
from recbole_denoise.data.convert import kuairand
from recbole_denoise.data.convert.__main__ import main
from recbole_denoise.data.convert.writer import ConversionError
from recbole_denoise.data.watch_time_dataset import WatchTimeDataset
from recbole_denoise.utils import create_dataset

RAW = Path(__file__).resolve().parent / "fixtures" / "kuairand" / "KuaiRand-Pure"
RANDOM_LOG = RAW / "data" / "log_random_4_22_to_5_08_pure.csv"
REPEATED = "repeated view of the same (user, video) (kept the longest)"


def read_table(out: Path, suffix: str) -> pd.DataFrame:
    frame = pd.read_csv(out / f"{out.name}.{suffix}", sep="\t", dtype=str, keep_default_na=False)
    frame.columns = [c.split(":")[0] for c in frame.columns]
    return frame


def rows_by_pair(out: Path):
    frame = read_table(out, "inter")
    return {(u, i): row for (u, i), row in zip(zip(frame["user_id"], frame["item_id"]), frame.to_dict("records"))}


def config_for(out: Path) -> Config:
    return Config(model="BPR", dataset=out.name, config_dict={"state": "ERROR", "data_path": str(out.parent)})


def test_random_log_round_trip_with_features(tmp_path):
    out = tmp_path / "data" / "kuairand"
    summary = kuairand.convert(RAW, out, quiet=True)
    assert (summary.rows_read, summary.rows_kept) == (7, 5)
    assert summary.dropped == {"zero or negative duration": 1, REPEATED: 1}
    rows = rows_by_pair(out)
    assert set(rows) == {("0", "101"), ("0", "102"), ("1", "101"), ("1", "103"), ("2", "103")}
    first = rows[("0", "101")]
    assert (first["play_time"], first["duration"], first["timestamp"]) == ("12", "10", "1650585600")
    assert (first["is_click"], first["long_view"], first["is_rand"], first["tab"]) == ("1", "1", "1", "1")
    assert rows[("0", "102")]["timestamp"] == "1650585660.5"  # time_ms keeps its milliseconds
    # empty time_ms: 2022-04-23 12:30 Beijing time = 04:30 UTC
    assert rows[("1", "101")]["timestamp"] == "1650688200"
    # user 2 watched video 103 twice: the longer view (45 s, with a follow) is kept
    assert (rows[("2", "103")]["play_time"], rows[("2", "103")]["is_follow"]) == ("45", "1")

    users = read_table(out, "user").set_index("user_id")
    assert sorted(users.index) == ["0", "1", "2"]  # user 9 has no log row; user 3 is only in the standard log
    assert users.loc["0", "fans_user_num_range"] == "[100,1k)" and users.loc["0", "fans_user_num"] == "312"
    assert users.loc["2", "user_active_degree"] == "UNKNOWN"
    items = read_table(out, "item").set_index("item_id")
    assert sorted(items.index) == ["101", "102", "103"]
    assert items.loc["101", "tag"] == "12 65" and items.loc["102", "tag"] == ""
    assert items.loc["101", "video_duration"] == "10" and items.loc["103", "video_duration"] == ""
    assert items.loc["101", "upload_dt"] == "1594166400"  # 2020-07-08 UTC

    config = yaml.safe_load((out / "kuairand.yaml").read_text())
    assert config["eval_args"]["order"] == "TO" and config["eval_args"]["mode"] == "labeled"
    assert config["ground_truth_fields"] == ["play_time", "long_view", "is_click"]
    assert "clip_features" not in config

    recbole_config = config_for(out)
    plain = create_dataset(recbole_config)
    assert plain.inter_num == 5 and plain.user_feat is not None and "tag" in plain.item_feat
    dataset = WatchTimeDataset(recbole_config)
    assert dataset.clip_features is None
    levels = {(dataset.id2token("user_id", u), dataset.id2token("item_id", i)): lvl for u, i, lvl in zip(
        dataset.inter_feat["user_id"], dataset.inter_feat["item_id"], dataset.inter_feat["skip_level"])}
    assert levels == {("0", "101"): 2, ("0", "102"): 0, ("1", "101"): 2, ("1", "103"): 1, ("2", "103"): 1}


def test_both_logs_keep_the_longest_view_across_logs(tmp_path):
    out = tmp_path / "data" / "both"
    summary = kuairand.convert(RAW, out, log="both", quiet=True)
    assert (summary.rows_read, summary.rows_kept) == (10, 7)
    assert summary.dropped == {"zero or negative duration": 1, REPEATED: 2}
    rows = rows_by_pair(out)
    assert rows[("1", "101")]["play_time"] == "30"  # the random log's 30 s beats the standard log's 5 s
    assert rows[("1", "101")]["is_rand"] == "1"
    assert ("3", "104") in rows and rows[("0", "103")]["is_rand"] == "0"
    standard = kuairand.convert(RAW / "data", tmp_path / "data" / "standard", log="standard", quiet=True)
    assert (standard.rows_read, standard.rows_kept) == (3, 3)
    assert sorted(read_table(tmp_path / "data" / "standard", "user")["user_id"]) == ["0", "1", "3"]


@pytest.mark.parametrize("line, column, value, field, detail", [
    (3, 5, "2", "is_click", "bad flag"),
    (4, 12, "7s", "play_time_ms", "bad number"),
    (5, 1, "", "video_id", "missing id"),
])
def test_bad_rows_name_file_line_and_field(tmp_path, line, column, value, field, detail):
    raw = tmp_path / "raw"
    shutil.copytree(RAW / "data", raw)
    path = raw / RANDOM_LOG.name
    lines = path.read_text().splitlines()
    cells = lines[line - 1].split(",")
    cells[column] = value
    lines[line - 1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConversionError, match=detail) as caught:
        kuairand.convert(raw, tmp_path / "data" / "bad", quiet=True)
    assert (caught.value.file, caught.value.line, caught.value.field) == (str(path), line, field)
    assert not (tmp_path / "data" / "bad").exists()


def test_missing_time_without_date_and_repeated_feature_rows_are_errors(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "log_random_4_22_to_5_08_x.csv").write_text(
        "user_id,video_id,time_ms,play_time_ms,duration_ms\n1,2,,1000,2000\n")
    with pytest.raises(ConversionError, match="missing time") as caught:
        kuairand.convert(raw, tmp_path / "data" / "x", quiet=True)
    assert caught.value.line == 2
    (raw / "log_random_4_22_to_5_08_x.csv").write_text(
        "user_id,video_id,time_ms,play_time_ms,duration_ms\n1,2,1650000000000,1000,2000\n")
    (raw / "video_features_basic_x.csv").write_text("video_id,author_id\n2,5\n3,5\n2,6\n")
    with pytest.raises(ConversionError, match="listed twice") as caught:
        kuairand.convert(raw, tmp_path / "data" / "x", quiet=True)
    assert (caught.value.line, caught.value.field) == (4, "item_id")
    with pytest.raises(ConversionError, match="no standard log"):
        kuairand.convert(raw, tmp_path / "data" / "x", log="standard", quiet=True)


def test_failed_overwrite_keeps_the_earlier_output(tmp_path):
    out = tmp_path / "data" / "kuairand"
    kuairand.convert(RAW, out, quiet=True)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    raw = tmp_path / "raw"
    shutil.copytree(RAW / "data", raw)
    (raw / "video_features_basic_pure.csv").write_text("video_id,upload_dt\n101,yesterday\n")
    with pytest.raises(ConversionError, match="bad date"):
        kuairand.convert(raw, out, overwrite=True, quiet=True)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["kuairand"]


def test_cli_with_the_log_option(tmp_path, capsys):
    out = tmp_path / "data" / "kr"
    assert main(["kuairand", "--raw", str(RAW), "--out", str(out), "--log", "both"]) == 0
    assert "rows read: 10, kept: 7" in capsys.readouterr().out
    assert main(["kuairand", "--raw", str(RAW), "--out", str(out)]) == 1  # exists, no --overwrite


# --------------------------------------------------------------------------- --mode feedback (DUMN)

FEEDBACK_INTER = ["user_id", "item_id", "timestamp", "label", "click", "like", "dislike"]


def test_feedback_mode_keeps_every_row_as_a_sample_with_native_kinds(tmp_path):
    out = tmp_path / "data" / "krf"
    summary = kuairand.convert(RAW, out, mode="feedback", quiet=True)
    # no row dropped: the zero-duration row and the repeated view are impressions too
    assert (summary.rows_read, summary.rows_kept, summary.dropped) == (7, 7, {})
    inter = read_table(out, "inter")
    assert list(inter.columns) == FEEDBACK_INTER
    assert inter.values.tolist() == [
        ["0", "101", "1650585600", "1", "1", "0", "0"],
        ["0", "102", "1650585660.5", "0", "0", "0", "1"],  # shown, not clicked, hated
        ["1", "101", "1650688200", "1", "1", "1", "0"],  # time from date + hourmin, liked
        ["1", "103", "1650688260", "1", "1", "0", "0"],
        ["2", "102", "1650762000", "0", "0", "0", "0"],
        ["2", "103", "1650762060", "1", "1", "0", "0"],
        ["2", "103", "1650762300", "1", "1", "0", "0"]]
    assert not (out / "krf.feedback").exists()
    config = yaml.safe_load((out / "krf.yaml").read_text())
    assert config["dataset_class"] == "FeedbackHistoryDataset" and config["feedback_events"] is None
    assert config["feedback_fields"] == {"click": "click", "like": "like", "dislike": "dislike"}
    assert config["history_item_fields"] == ["item_id", "author_id"]
    assert config["load_col"]["inter"] == FEEDBACK_INTER and "ground_truth_fields" not in config
    assert config["eval_args"] == {"split": {"RS": [0.7, 0.1, 0.2]}, "group_by": "user", "order": "TO",
                                   "mode": "labeled"}
    assert (config["metrics"], config["valid_metric"]) == (["AUC", "LogLoss"], "AUC")


def test_feedback_mode_like_label_keeps_the_other_rows_as_history(tmp_path):
    out = tmp_path / "data" / "krl"
    summary = kuairand.convert(RAW, out, mode="feedback", label="like", log="both", quiet=True)
    assert (summary.rows_read, summary.rows_kept) == (10, 2)
    assert summary.dropped == {kuairand.NOT_A_SAMPLE: 8}
    assert read_table(out, "inter").values.tolist() == [["0", "102", "1650585660.5", "0", "0", "0", "1"],
                                                        ["1", "101", "1650688200", "1", "1", "1", "0"]]
    events = read_table(out, "feedback")
    assert list(events.columns) == ["user_id", "timestamp", "kind", "item_id"]
    assert sorted(events.values.tolist()) == sorted([
        ["0", "1650585600", "click", "101"], ["0", "1650852000", "click", "103"],
        ["1", "1650688260", "click", "103"], ["1", "1650852060", "click", "101"],
        ["2", "1650762000", "unclick", "102"], ["2", "1650762060", "click", "103"],
        ["2", "1650762300", "click", "103"], ["3", "1650942000", "unclick", "104"]])
    # videos and users only the history knows get their feature rows
    assert sorted(read_table(out, "item")["item_id"]) == ["101", "102", "103", "104"]
    assert sorted(read_table(out, "user")["user_id"]) == ["0", "1", "2", "3"]
    config = yaml.safe_load((out / "krl.yaml").read_text())
    assert config["feedback_events"] == "feedback" and config["LABEL_FIELD"] == "label"


def test_feedback_mode_bad_flag_names_file_line_and_field(tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(RAW / "data", raw)
    path = raw / RANDOM_LOG.name
    lines = path.read_text().splitlines()
    cells = lines[5].split(",")
    cells[10] = "yes"  # is_hate
    lines[5] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConversionError, match="bad flag") as caught:
        kuairand.convert(raw, tmp_path / "data" / "bad", mode="feedback", quiet=True)
    assert (caught.value.file, caught.value.line, caught.value.field) == (str(path), 6, "is_hate")
    with pytest.raises(ConversionError, match="unknown label") as caught:
        kuairand.convert(RAW, tmp_path / "data" / "bad", mode="feedback", label="hate", quiet=True)
    assert caught.value.field == "label"
    lines[0] = lines[0].replace(",is_hate", ",is_hated")  # watch mode does not need it; feedback mode does
    path.write_text("\n".join(lines[:5]) + "\n")
    with pytest.raises(ConversionError, match="required column missing from the header") as caught:
        kuairand.convert(raw, tmp_path / "data" / "bad", mode="feedback", quiet=True)
    assert (caught.value.file, caught.value.line, caught.value.field) == (str(path), 1, "is_hate")
    assert not (tmp_path / "data").exists()


def test_cli_feedback_mode(tmp_path, capsys):
    out = tmp_path / "data" / "krl"
    assert main(["kuairand", "--raw", str(RAW), "--out", str(out), "--mode", "feedback", "--label", "like"]) == 0
    assert "rows read: 7, kept: 2" in capsys.readouterr().out


def test_like_label_row_both_liked_and_hated_is_no_sample_but_stays_history(tmp_path):
    raw = RAW.parent / "feedback"  # a minimal standard log: only the columns feedback mode reads
    out = tmp_path / "data" / "mini"
    summary = kuairand.convert(raw, out, mode="feedback", label="like", log="standard", quiet=True)
    assert (summary.rows_read, summary.rows_kept) == (4, 2)
    assert summary.dropped == {kuairand.NOT_A_SAMPLE: 1, kuairand.BOTH_LIKED_AND_HATED: 1}
    assert read_table(out, "inter")[["user_id", "item_id", "label"]].values.tolist() == [["5", "203", "1"],
                                                                                          ["6", "201", "0"]]
    # 2022-04-10 09:01 Beijing = 01:01 UTC for the row without time_ms
    assert sorted(read_table(out, "feedback").values.tolist()) == sorted([
        ["5", "1649552400", "click", "201"], ["5", "1649552400", "like", "201"],
        ["5", "1649552400", "dislike", "201"], ["5", "1649552460", "unclick", "202"]])
    assert not (out / "mini.item").exists()  # no video features: the history carries the video id only
    assert yaml.safe_load((out / "mini.yaml").read_text())["history_item_fields"] == ["item_id"]
