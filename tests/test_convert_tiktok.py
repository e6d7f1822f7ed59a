"""Converter for the raw ICME 2019 challenge track 2 Tiktok log, with optional item features."""

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from recbole_denoise.data.convert import reader, tiktok_raw
from recbole_denoise.data.convert.writer import ConversionError

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "tiktok"
LOG = FIXTURES / "final_track2_train.txt"
FEATURES = FIXTURES / "features"
HEADER = ["user_id:token", "item_id:token", "user_city:token", "author_id:token", "item_city:token",
          "channel:token", "music_id:token", "device:token", "finish:float", "like:float", "timestamp:float",
          "duration_time:float", "clean:float"]


def read_inter(out: Path) -> pd.DataFrame:
    frame = pd.read_csv(out / f"{out.name}.inter", sep="\t", dtype=str, keep_default_na=False)
    assert list(frame.columns) == HEADER
    frame.columns = [c.split(":")[0] for c in frame.columns]
    return frame.set_index(["user_id", "item_id"])


def load_with_recbole(out_dir: Path):
    from recbole.config import Config
    from recbole.data import create_dataset

    name = out_dir.name
    config = Config(model="BPR", dataset=name, config_file_list=[str(out_dir / f"{name}.yaml")],
                    config_dict={"data_path": str(out_dir.parent), "state": "ERROR", "show_progress": False})
    return create_dataset(config)


def tokens_and_rows(out: Path, modality: str, file_suffix: str):
    tokens = (out / f"{out.name}.{modality}.tokens").read_text().splitlines()
    return tokens, np.load(out / f"{out.name}.{file_suffix}", allow_pickle=False)


def edited_copy(tmp_path: Path, source: Path, line: int, text: str) -> Path:
    lines = source.read_text().split("\n")
    lines[line - 1] = text
    target = tmp_path / "raw" / source.name
    target.parent.mkdir(exist_ok=True)
    target.write_text("\n".join(lines))
    return target


def test_round_trip_with_features_and_recbole(tmp_path):
    out = tmp_path / "data" / "tiktok"
    summary = tiktok_raw.convert(LOG, out, features=FEATURES, quiet=True)

    assert summary.rows_read == 12 and summary.rows_kept == 11
    assert summary.dropped == {tiktok_raw.DUPLICATE_REASON: 1}
    assert (summary.stats["users"], summary.stats["items"], summary.stats["false positives"]) == (5, 6, 4)
    assert summary.stats["visual: items with an empty vector (skipped)"] == 1

    inter = read_inter(out)
    # the later view of (3, 100) wins: finished, so clean
    assert inter.loc[("3", "100")].tolist() == ["12", "7", "10", "0", "", "7", "1", "0", "53090", "10", "1"]
    assert inter.loc[("2", "100"), "user_city"] == ""  # -1 = unknown is a missing value
    assert inter.loc[("1", "101"), ["item_city", "music_id"]].tolist() == ["", "22"]
    assert inter.loc[("1", "102"), "clean"] == "1"  # liked but not finished
    assert inter.loc[("3", "104"), ["clean", "duration_time"]].tolist() == ["0", "12.5"]

    config = yaml.safe_load((out / "tiktok.yaml").read_text())
    assert config["clean_field"] == "clean" and config["ground_truth_fields"] == ["finish", "like"]
    assert config["metrics"] == ["Recall", "NDCG", "Precision"] and config["valid_metric"] == "Recall@10"
    assert config["item_modalities"] == {
        "visual": {"file": "tiktok.visual.npy", "tokens": "tiktok.visual.tokens"},
        "acoustic": {"file": "tiktok.acoustic.npy", "tokens": "tiktok.acoustic.tokens"},
        "textual": {"words": "tiktok.textual_words.npy", "tokens": "tiktok.textual.tokens", "n_words": 13},
    }

    tokens, visual = tokens_and_rows(out, "visual", "visual.npy")
    assert visual.shape == (7, 4) and "106" in tokens and "107" not in tokens  # 106 has no interaction
    np.testing.assert_array_equal(visual[tokens.index("102")], np.float32([-0.5, 0.25, 3.5, 0.125]))
    tokens, acoustic = tokens_and_rows(out, "acoustic", "acoustic.npy")
    np.testing.assert_array_equal(acoustic[tokens.index("100")], np.float32([-1.0, 0.0, 1.0]))
    tokens, words = tokens_and_rows(out, "textual", "textual_words.npy")
    assert tokens == ["100", "101", "102", "104"]  # the empty title keeps its row
    assert sorted(words[words[:, 0] == tokens.index("100"), 1].tolist()) == [5, 12, 12]  # count 2 -> 2 pairs
    assert not (words[:, 0] == tokens.index("102")).any()

    dataset = load_with_recbole(out)
    assert (dataset.user_num, dataset.item_num, dataset.inter_num) == (5 + 1, 6 + 1, 11)
    assert int((dataset.inter_feat["clean"] == 0).sum()) == 4


def test_keep_clean_and_other_clean_rule(tmp_path):
    summary = tiktok_raw.convert(LOG, tmp_path / "tiktok", keep="clean", quiet=True)
    assert summary.rows_kept == 7
    assert summary.dropped[tiktok_raw.NOT_CLEAN_REASON.format(rule="finish-or-like")] == 4
    assert (read_inter(tmp_path / "tiktok")["clean"] == "1").all()

    summary = tiktok_raw.convert(LOG, tmp_path / "liked" / "tiktok", clean_rule="like", quiet=True)
    assert summary.stats["false positives"] == 7  # 4 of 11 rows were liked
    config = yaml.safe_load((tmp_path / "liked" / "tiktok" / "tiktok.yaml").read_text())
    assert config["ground_truth_fields"] == ["like"] and "item_modalities" not in config


def test_reads_a_gzipped_log_from_its_folder(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    with gzip.open(raw / "final_track2_train.txt.gz", "wb") as handle:
        handle.write(LOG.read_bytes())
    assert tiktok_raw.convert(raw, tmp_path / "tiktok", quiet=True).rows_kept == 11


@pytest.mark.parametrize(
    "line, text, field, found",
    [
        (3, "1\t10\t102\t8\t10\t1\t2\t1\t23\t5\t53030\t9", "finish", "found '2'"),
        (4, "abc\t-1\t100\t7\t10\t0\t0\t0\t-1\t6\t53040\t10", "uid", "found 'abc'"),
        (5, "2\t11\t103\t9\t12\t0\t1\t1\t24\t6\t53050\t30\t1", "columns", "expected 12 tab-separated columns"),
        (6, "2\t11\t101\t7\t-1\t0\t1\t0\t22\t6\t53060", "columns", "found '11 columns"),
        (6, "2\t11\t101\t7\t-1\t0\t1\t0\t22\t6\t53060\t", "duration_time", "missing value"),
        (7, "3\t12\t104\t9\t12\t2\t0\t0\t-1\t7\tsoon\t12.5", "time", "found 'soon'"),
        (10, "4\t13\t105\t10\t-7\t0\t0\t0\t25\t8\t53100\t20", "item_city", "found '-7'"),
        (13, "5\t13\t103\t9\t12\t0\t0\t1\t24\t8\t53120\t-3", "duration_time", "found '-3'"),
    ],
)
def test_malformed_log_line_names_file_line_and_field(tmp_path, line, text, field, found):
    raw = edited_copy(tmp_path, LOG, line, text)
    with pytest.raises(ConversionError) as caught:
        tiktok_raw.convert(raw, tmp_path / "out" / "tiktok", quiet=True)
    message = str(caught.value)
    assert LOG.name in message and f"line {line}" in message and f"field '{field}'" in message
    assert found in message
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "file_name, line, record, field, found",
    [
        ("track2_video_features.txt", 3, {"item_id": 102, "video_feature_dim_128": [1.0, 2.0]}, "video_feature_dim_128",
         "expected 4 numbers"),
        ("track2_video_features.txt", 4, {"item_id": 101, "video_feature_dim_128": [0, 0, 0, 1]}, "item_id",
         "item listed twice (first on line 2)"),
        ("track2_audio_features.txt", 2, {"item_id": 100, "audio_feature_128_dim": ["x", 0, 1]},
         "audio_feature_128_dim", "bad feature vector"),
        ("track2_title.txt", 2, {"item_id": 101, "title_features": {"w3": 1}}, "title_features", "found 'w3'"),
    ],
)
def test_malformed_feature_line_names_file_line_and_field(tmp_path, file_name, line, record, field, found):
    features = tmp_path / "features"
    shutil.copytree(FEATURES, features)
    lines = (features / file_name).read_text().splitlines()
    lines[line - 1] = json.dumps(record)
    (features / file_name).write_text("\n".join(lines) + "\n")
    with pytest.raises(ConversionError) as caught:
        tiktok_raw.convert(LOG, tmp_path / "out" / "tiktok", features=features, quiet=True)
    message = str(caught.value)
    assert file_name in message and f"line {line}" in message and f"field '{field}'" in message
    assert found in message
    assert not (tmp_path / "out").exists()


def test_cli(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "recbole_denoise.data.convert", "tiktok", "--raw", str(FIXTURES),
         "--out", str(tmp_path / "tiktok"), "--features", str(FEATURES), "--keep", "clean"],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "rows read: 12, kept: 7, dropped: 5" in result.stdout
    report = json.loads((tmp_path / "tiktok" / "conversion.json").read_text())
    assert report["options"]["keep"] == "clean" and report["dataset_config"]["item_modalities"]["textual"]


def test_chunked_reading_gives_the_same_rows_and_line_numbers(tmp_path, monkeypatch):
    monkeypatch.setattr(reader, "BLOCK_BYTES", 100)  # the log spans several blocks of a few lines
    whole = tiktok_raw.convert(LOG, tmp_path / "whole" / "tiktok", quiet=True)
    assert whole.rows_read == 12 and whole.rows_kept == 11 and whole.stats["false positives"] == 4
    assert read_inter(tmp_path / "whole" / "tiktok").loc[("3", "100"), "timestamp"] == "53090"
    raw = edited_copy(tmp_path, LOG, 11, "4\t13\t102\t8\t10\t1\tyes\t1\t23\t8\t53110\t9")
    with pytest.raises(ConversionError, match="line 11, field 'finish'"):
        tiktok_raw.convert(raw, tmp_path / "out" / "tiktok", quiet=True)
