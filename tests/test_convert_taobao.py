"""Taobao Ad Display/Click converter (hand-written fixture of the four raw files)."""

import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from recbole_denoise.config import Config
from recbole_denoise.data.convert import reader, taobao
from recbole_denoise.data.convert.__main__ import build_parser
from recbole_denoise.data.convert.writer import ConversionError
from recbole_denoise.data.feedback_dataset import NO_ITEM, FeedbackHistoryDataset
from recbole_denoise.utils import create_dataset

RAW = Path(__file__).resolve().parent / "fixtures" / "taobao"
INTER = ["user_id", "item_id", "timestamp", "label", "click", "like", "dislike"]


def read_table(out: Path, suffix: str) -> pd.DataFrame:
    frame = pd.read_csv(out / f"{out.name}.{suffix}", sep="\t", dtype=str, keep_default_na=False)
    frame.columns = [c.split(":")[0] for c in frame.columns]
    return frame


def rows(out: Path, part: str):
    return read_table(out, f"{part}.inter")[INTER].values.tolist()


def test_round_trip_split_features_and_like_events(tmp_path):
    out = tmp_path / "data" / "taobao"
    summary = taobao.convert(RAW, out, quiet=True)
    assert (summary.rows_read, summary.rows_kept, summary.dropped) == (8, 8, {})
    # 2017-05-13 00:00 UTC = 1494633600 starts the test part; the day before is validation
    assert rows(out, "train") == [["581738", "1", "1494137644", "0", "0", "", ""],
                                  ["581738", "2", "1494115387", "1", "1", "", ""],
                                  ["449818", "3", "1494547199", "0", "0", "", ""]]
    assert rows(out, "valid") == [["449818", "1", "1494547200", "1", "1", "", ""],
                                  ["914836", "4", "1494633599", "0", "0", "", ""]]
    assert rows(out, "test") == [["914836", "2", "1494633600", "1", "1", "", ""],
                                 ["1000", "3", "1494650000", "0", "0", "", ""],
                                 ["581738", "1", "1494660000", "0", "0", "", ""]]
    assert read_table(out, "test.inter")["pid"].tolist() == ["430548_1007", "430539_1007", "430548_1007"]
    items = read_table(out, "item")
    assert items.values.tolist() == [["1", "6406", "83237", "1", "95471", "170"],
                                     ["2", "4520", "94283", "2", "", "29.9"],  # brand NULL: missing
                                     ["3", "4282", "74167", "3", "44448", "118"],
                                     ["4", "6406", "83237", "1", "95471", "58"]]  # ad 5 is in no sample
    users = read_table(out, "user")
    assert list(users.columns)[-1] == "new_user_class_level"  # the header's trailing space is stripped
    assert users["user_id"].tolist() == ["581738", "449818", "914836"]  # user 7 has no sample
    assert users.set_index("user_id").loc["449818", "new_user_class_level"] == "2"
    # cart / fav / buy of sample users; pv and user 99999 (no sample) are not kept
    assert read_table(out, "feedback").values.tolist() == [
        ["581738", "1494137100", "like", NO_ITEM, "6406", "95471"],
        ["581738", "1494137200", "like", NO_ITEM, "4520", ""],
        ["449818", "1493000000", "like", NO_ITEM, "4282", "44448"],
        ["914836", "1494633700", "like", NO_ITEM, "6406", "234"]]
    assert summary.stats["behavior_log.csv rows"] == 7
    assert summary.stats["behavior_log.csv events kept (cart, fav, buy)"] == 4
    assert summary.stats["behavior_log.csv pv rows dropped (--pv drop)"] == 2
    assert summary.stats["behavior_log.csv rows of users not in raw_sample.csv"] == 1

    config = yaml.safe_load((out / "taobao.yaml").read_text())
    assert config["dataset_class"] == "FeedbackHistoryDataset" and config["LABEL_FIELD"] == "label"
    assert config["load_col"]["inter"] == INTER and config["benchmark_filename"] == ["train", "valid", "test"]
    assert config["feedback_fields"] == {"click": "click", "like": "like", "dislike": None}
    assert config["feedback_events"] == "feedback" and config["history_item_fields"] == ["item_id", "cate_id",
                                                                                        "brand"]
    assert config["eval_args"]["mode"] == "labeled" and config["metrics"] == ["AUC", "LogLoss"]
    assert config["valid_metric"] == "AUC" and "no public" in config["feedback_notes"]["dislike"]


def test_loads_as_feedback_dataset_with_an_empty_dislike_history(tmp_path):
    out = tmp_path / "data" / "taobao"
    taobao.convert(RAW, out, quiet=True)
    config = Config(model="WideDeep", dataset="taobao",
                    config_dict={"state": "ERROR", "data_path": str(out.parent), "show_progress": False})
    dataset = create_dataset(config)
    assert isinstance(dataset, FeedbackHistoryDataset)
    train, valid, test = dataset.build()
    assert [len(part) for part in (train, valid, test)] == [3, 2, 3]
    histories = dataset.feedback_histories
    assert [histories.n_events(kind) for kind in ("click", "unclick", "like", "dislike")] == [3, 5, 4, 0]
    user = torch.as_tensor(dataset.token2id("user_id", ["581738"]))
    ids, mask, _ = histories.window("like", user, torch.tensor([1494660000.0], dtype=torch.float64), 3)
    assert mask.tolist() == [[False, True, True]]
    assert [dataset.id2token("item_id", i) for i in ids["item_id"][0, 1:].tolist()] == [NO_ITEM, NO_ITEM]
    assert [dataset.id2token("cate_id", i) for i in ids["cate_id"][0, 1:].tolist()] == ["6406", "4520"]
    # the second like has no brand: padding, not another brand's id
    assert ids["brand"][0, 2].item() == 0
    # clicks come from the samples: user 581738 clicked ad 2 at 1494115387 only
    ids, mask, _ = histories.window("click", user, torch.tensor([1494660000.0], dtype=torch.float64), 2)
    assert mask.tolist() == [[False, True]] and dataset.id2token("item_id", ids["item_id"][0, 1].item()) == "2"


def test_pv_as_clicks_and_the_user_filter_across_many_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(reader, "BLOCK_BYTES", 40)  # about one behaviour-log row per block
    out = tmp_path / "data" / "pv"
    summary = taobao.convert(RAW, out, pv="click", quiet=True)
    events = read_table(out, "feedback")
    assert events[["user_id", "timestamp", "kind"]].values.tolist() == [
        ["581738", "1494137000", "click"], ["581738", "1494137100", "like"], ["581738", "1494137200", "like"],
        ["449818", "1493000000", "like"], ["914836", "1494633700", "like"], ["1000", "1494100000", "click"]]
    assert summary.stats["behavior_log.csv rows of users not in raw_sample.csv"] == 1
    assert "written as click events" in yaml.safe_load((out / "pv.yaml").read_text())["feedback_notes"]["pv"]


def test_test_start_and_validation_days_move_the_cut(tmp_path):
    out = tmp_path / "data" / "beijing"
    summary = taobao.convert(RAW, out, test_from=1494604800, valid_days=2, quiet=True)  # Beijing midnight
    assert [summary.stats[f"{part} samples"] for part in ("train", "valid", "test")] == [2, 2, 4]
    assert rows(out, "test")[0][2] == "1494633599"
    with pytest.raises(ConversionError, match="positive number of days") as caught:
        taobao.convert(RAW, tmp_path / "data" / "x", valid_days=0, quiet=True)
    assert caught.value.field == "valid_days"


def spoil(tmp_path: Path, name: str, line: int, column: int, value: str) -> Path:
    raw = tmp_path / "raw"
    shutil.copytree(RAW, raw)
    lines = (raw / name).read_text().splitlines()
    cells = lines[line - 1].split(",")
    if column < 0:
        cells.append(value)
    else:
        cells[column] = value
    lines[line - 1] = ",".join(cells)
    (raw / name).write_text("\n".join(lines) + "\n")
    return raw


@pytest.mark.parametrize("name, line, column, value, field, problem", [
    ("raw_sample.csv", 3, 5, "2", "clk", "bad flag"),
    ("raw_sample.csv", 4, 5, "1", "clk", "clk and nonclk disagree"),
    ("raw_sample.csv", 5, 1, "2017-05-12", "time_stamp", "bad number"),
    ("raw_sample.csv", 6, 0, "", "user", "missing id"),
    ("behavior_log.csv", 4, 1, "1494137200.x", "time_stamp", "bad number"),
    ("behavior_log.csv", 6, 1, "", "time_stamp", "missing value"),  # a row of a user with no sample too
    ("behavior_log.csv", 5, 2, "like", "btag", "bad btag"),
    ("behavior_log.csv", 7, -1, "7", "columns", "wrong number of columns"),
    ("ad_feature.csv", 2, 0, "", "adgroup_id", "missing id"),
    ("user_profile.csv", 3, 0, "a b", "userid", "bad id"),
])
def test_bad_rows_name_file_line_and_field(tmp_path, name, line, column, value, field, problem):
    raw = spoil(tmp_path, name, line, column, value)
    out = tmp_path / "data" / "bad"
    with pytest.raises(ConversionError, match=problem) as caught:
        taobao.convert(raw, out, quiet=True)
    assert (caught.value.file, caught.value.line, caught.value.field) == (str(raw / name), line, field)
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


def test_missing_column_in_a_header_and_missing_files(tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(RAW, raw)
    text = (raw / "ad_feature.csv").read_text().splitlines()
    (raw / "ad_feature.csv").write_text("\n".join([text[0].replace(",brand", ",brand_id")] + text[1:]) + "\n")
    with pytest.raises(ConversionError, match="required column missing") as caught:
        taobao.convert(raw, tmp_path / "data" / "x", quiet=True)
    assert (caught.value.line, caught.value.field) == (1, "brand")
    shutil.copy(RAW / "ad_feature.csv", raw / "ad_feature.csv")
    (raw / "behavior_log.csv").unlink()
    (raw / "user_profile.csv").unlink()
    summary = taobao.convert(raw, tmp_path / "data" / "x", quiet=True)
    assert not (tmp_path / "data" / "x" / "x.feedback").exists()
    assert yaml.safe_load((tmp_path / "data" / "x" / "x.yaml").read_text())["feedback_events"] is None
    assert "absent" in summary.stats["behavior_log.csv"]
    (raw / "raw_sample.csv").unlink()
    with pytest.raises(ConversionError, match="Taobao file not found"):
        taobao.convert(raw, tmp_path / "data" / "y", quiet=True)


def test_help_says_there_is_no_dislike_and_how_long_the_full_log_takes(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["taobao", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "no public dislike" in text and "700M-row log takes about" in text
