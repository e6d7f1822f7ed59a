"""Converter for raw Adressa events (clean = dwell time >= 10 s, repeated clicks merged)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from recbole_denoise.data.convert import adressa
from recbole_denoise.data.convert.writer import ConversionError

REPO = Path(__file__).resolve().parents[1]
EVENTS = REPO / "tests" / "fixtures" / "adressa" / "one_week"
USERS = {n: f"cx:handwrittenuser0{n}:{c * 4}" for n, c in zip((1, 2, 3, 4), "abcd")}
ARTICLES = {n: f"{c * 4}{'0' * 35}{n}" for n, c in zip((1, 2, 3, 4), "abcd")}


def load_with_recbole(out_dir: Path):
    """The converted dataset as RecBole itself loads it, through the yaml the converter wrote."""
    from recbole.config import Config
    from recbole.data import create_dataset

    name = out_dir.name
    config = Config(model="BPR", dataset=name, config_file_list=[str(out_dir / f"{name}.yaml")],
                    config_dict={"data_path": str(out_dir.parent), "state": "ERROR", "show_progress": False})
    return create_dataset(config)


def row_of(dataset, user, item):
    frame = dataset.inter_feat
    mask = (frame["user_id"] == dataset.token2id("user_id", user)) & (
        frame["item_id"] == dataset.token2id("item_id", item))
    assert mask.sum() == 1
    return frame[mask].iloc[0]


def read_inter(out_dir: Path) -> pd.DataFrame:
    frame = pd.read_csv(out_dir / f"{out_dir.name}.inter", sep="\t", dtype=str, keep_default_na=False)
    frame.columns = [c.split(":")[0] for c in frame.columns]
    return frame.set_index(["user_id", "item_id"])


def pair(user: int, article: int):
    return USERS[user], ARTICLES[article]


def edited_events(tmp_path: Path, day: str, line: int, edit) -> Path:
    raw = tmp_path / "raw"
    shutil.copytree(EVENTS, raw)
    lines = (raw / day).read_text().splitlines()
    new = edit(json.loads(lines[line - 1]))
    lines[line - 1] = new if isinstance(new, str) else json.dumps(new)
    (raw / day).write_text("\n".join(lines) + "\n")
    return raw


def test_round_trip_with_pandas_and_recbole(tmp_path):
    out = tmp_path / "adressa"
    summary = adressa.convert(EVENTS, out, quiet=True)

    assert summary.rows_read == 16 and summary.rows_kept == 8
    assert summary.dropped == {adressa.NO_ARTICLE_REASON: 3, adressa.REPEATED_CLICK_REASON: 3,
                               adressa.NO_DWELL_REASON: 2}
    assert (summary.stats["users"], summary.stats["items"], summary.stats["false positives"]) == (4, 3, 2)
    assert summary.stats["event files"] == 2

    inter = read_inter(out)
    assert list(pd.read_csv(out / "adressa.inter", sep="\t", nrows=0).columns) == [
        "user_id:token", "item_id:token", "timestamp:float", "dwell_time:float", "clean:float"]
    # repeated clicks: first click's time, longest dwell (4 s then 15 s -> clean)
    assert inter.loc[pair(2, 1)].tolist() == ["1483258000", "15", "1"]
    assert inter.loc[pair(1, 2)].tolist() == ["1483260000", "30", "1"]
    # first click without activeTime, second with 3 s: the known dwell decides
    assert inter.loc[pair(3, 1)].tolist() == ["1483344100", "3", "0"]
    assert inter.loc[pair(2, 3), "clean"] == "1"  # exactly 10 s is clean
    assert inter["timestamp"].astype(int).is_monotonic_increasing

    config = yaml.safe_load((out / "adressa.yaml").read_text())
    assert config["topk"] == [3, 20] and config["valid_metric"] == "Recall@20"
    assert config["load_col"]["inter"] == ["user_id", "item_id", "timestamp", "dwell_time", "clean"]

    dataset = load_with_recbole(out)
    assert (dataset.user_num, dataset.item_num, dataset.inter_num) == (4 + 1, 3 + 1, 8)
    assert row_of(dataset, *pair(2, 1))["clean"] == 1.0
    assert row_of(dataset, *pair(1, 3))["clean"] == 0.0
    assert row_of(dataset, *pair(4, 1))["dwell_time"] == 60.0


def test_missing_dwell_as_false_positive(tmp_path):
    summary = adressa.convert(EVENTS, tmp_path / "adressa", missing_dwell="false-positive", quiet=True)
    assert summary.rows_kept == 10 and adressa.NO_DWELL_REASON not in summary.dropped
    assert summary.stats["false positives"] == 4 and summary.stats["items"] == 4
    inter = read_inter(tmp_path / "adressa")
    assert inter.loc[pair(4, 4)].tolist() == ["1483345000", "", "0"]  # unknown dwell: empty cell
    assert inter.loc[pair(2, 2), "clean"] == "0"


def test_min_dwell_threshold(tmp_path):
    summary = adressa.convert(EVENTS, tmp_path / "adressa", min_dwell=20, quiet=True)
    clean = read_inter(tmp_path / "adressa")["clean"]
    assert sorted(clean[clean == "1"].index) == sorted([pair(1, 1), pair(1, 2), pair(4, 1)])
    assert summary.stats["false positives"] == 5


def test_single_daily_file(tmp_path):
    summary = adressa.convert(EVENTS / "20170101", tmp_path / "adressa", quiet=True)
    assert summary.rows_read == 8 and summary.rows_kept == 4
    assert summary.dropped == {adressa.NO_ARTICLE_REASON: 2, adressa.REPEATED_CLICK_REASON: 1,
                               adressa.NO_DWELL_REASON: 1}


@pytest.mark.parametrize(
    "day, line, edit, field, detail",
    [
        ("20170102", 3, lambda e: {k: v for k, v in e.items() if k != "userId"}, "userId", "missing required field"),
        ("20170102", 5, lambda e: {**e, "time": "noon"}, "time", "found 'noon'"),
        ("20170101", 6, lambda e: {**e, "activeTime": -5}, "activeTime", "expected a number >= 0, found -5"),
        ("20170101", 4, lambda e: "{'userId': 'python dict, not JSON'}", None, "invalid JSON"),
    ],
)
def test_malformed_event_names_file_line_and_field(tmp_path, day, line, edit, field, detail):
    raw = edited_events(tmp_path, day, line, edit)
    with pytest.raises(ConversionError) as caught:
        adressa.convert(raw, tmp_path / "out" / "adressa", quiet=True)
    message = str(caught.value)
    assert f"{day}, line {line}" in message and detail in message
    if field:
        assert f"field '{field}'" in message
    assert not (tmp_path / "out").exists()


def test_empty_folder_and_empty_result_are_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConversionError, match="no event files"):
        adressa.convert(tmp_path / "empty", tmp_path / "adressa", quiet=True)
    only_pages = tmp_path / "pages"
    only_pages.write_text('{"userId": "cx:u", "time": 1483257600, "url": "http://adressa.no"}\n')
    with pytest.raises(ConversionError, match="no rows left.*no article id: 1"):
        adressa.convert(only_pages, tmp_path / "adressa", quiet=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "pages"]


def test_cli_with_source_options(tmp_path):
    out = tmp_path / "adressa"
    args = [sys.executable, "-m", "recbole_denoise.data.convert", "adressa", "--raw", str(EVENTS),
            "--out", str(out), "--missing-dwell", "false-positive", "--min-dwell", "20"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "no article id: 3" in result.stdout
    report = json.loads((out / "conversion.json").read_text())
    assert report["options"] == {"min_dwell": 20.0, "missing_dwell": "false-positive", "min_interactions": 0}
    assert report["rows_kept"] == 10

    refused = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True)
    assert refused.returncode == 1 and "--overwrite" in refused.stderr
    replaced = subprocess.run(args[:-4] + ["--overwrite", "--quiet"], cwd=REPO, env=env, capture_output=True, text=True)
    assert replaced.returncode == 0 and replaced.stdout == ""
    assert json.loads((out / "conversion.json").read_text())["rows_kept"] == 8
