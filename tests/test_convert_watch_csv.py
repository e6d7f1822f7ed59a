"""Converter for the plain watch-time log (user_id,item_id,playing_time_ms,duration_ms[,timestamp])."""

import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from recbole_denoise.config import Config
from recbole_denoise.data.convert import watch_csv
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
