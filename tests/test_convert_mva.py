"""Converter for Micro-video-A in the FRAME release layout (data_final2.csv + fast_video_feature/)."""

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from recbole_denoise.config import Config
from recbole_denoise.data.convert import mva
from recbole_denoise.data.convert.__main__ import main
from recbole_denoise.data.convert.writer import ConversionError
from recbole_denoise.data.watch_time_dataset import WatchTimeDataset
from recbole_denoise.utils import create_dataset

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "mva"
# hand-written clip features, (4 clips, 3 dims) per video; 88003 has no file, 88999 is not in the log
CLIPS = {
    "88001": np.arange(12, dtype=np.float32).reshape(4, 3),
    "88002": -np.ones((4, 3), dtype=np.float32),
    "88004": np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]], dtype=np.float32),
    "88999": np.full((4, 3), 5, dtype=np.float32),
}


def release(tmp_path: Path, clips=CLIPS) -> Path:
    raw = tmp_path / "raw"
    shutil.copytree(FIXTURE, raw)
    (raw / "fast_video_feature").mkdir()
    for token, array in clips.items():
        np.save(raw / "fast_video_feature" / f"{token}.npy", array)
    return raw


def read_inter(out: Path) -> pd.DataFrame:
    frame = pd.read_csv(out / f"{out.name}.inter", sep="\t", dtype=str)
    frame.columns = [c.split(":")[0] for c in frame.columns]
    return frame.set_index(["user_id", "item_id"])


def test_round_trip_with_clip_features(tmp_path):
    out = tmp_path / "data" / "mva"
    summary = mva.convert(release(tmp_path), out, quiet=True)
    assert (summary.rows_read, summary.rows_kept) == (8, 6)
    assert summary.dropped == {"missing duration": 1,
                               "repeated view of the same (user, video) (kept the longest)": 1}
    assert summary.stats["timestamp unit"] == "ms (auto)"
    assert summary.stats["videos of the log without clip features"] == 1
    assert summary.stats["data_final2.csv: columns ignored"] == "Unnamed: 0"
    frame = read_inter(out)
    assert list(frame.columns) == ["play_time", "duration", "timestamp", "like", "follow", "forward"]
    assert frame.loc[("7001", "88001")].tolist() == ["2.5", "10", "1600000000", "0", "0", "0"]
    assert frame.loc[("7002", "88001"), "play_time"] == "31"  # the longer of two views (a replay)

    tokens = (out / "mva.clip.tokens").read_text().split()
    clips = np.load(out / "mva.clip.npy", allow_pickle=False)
    assert tokens == ["88001", "88002", "88004", "88999"] and clips.shape == (4, 4, 3)
    for token, array in CLIPS.items():
        np.testing.assert_array_equal(clips[tokens.index(token)], array)
    visual = np.load(out / "mva.visual.npy")
    np.testing.assert_allclose(visual[tokens.index("88004")], [0.5, 0.5, 0.5])
    config = yaml.safe_load((out / "mva.yaml").read_text())
    assert config["n_clips"] == 4
    assert config["clip_features"] == {"file": "mva.clip.npy", "tokens": "mva.clip.tokens"}
    assert config["item_modalities"] == {"visual": {"file": "mva.visual.npy", "tokens": "mva.visual.tokens"}}
    assert config["eval_args"]["order"] == "TO"

    recbole_config = Config(model="BPR", dataset="mva",
                            config_dict={"state": "ERROR", "data_path": str(out.parent)})
    assert create_dataset(recbole_config).inter_num == 6
    dataset = WatchTimeDataset(recbole_config)
    features = dataset.clip_features
    np.testing.assert_array_equal(features[dataset.token2id("item_id", "88004")].numpy(), CLIPS["88004"])
    # 88003 has no clip file: the mean of the dataset's known videos (88001, 88002, 88004), per clip
    expected = np.mean([CLIPS[t] for t in ("88001", "88002", "88004")], axis=0)
    np.testing.assert_allclose(features[dataset.token2id("item_id", "88003")].numpy(), expected, rtol=1e-6)
    negative = dataset.negative_clip_graph()
    # 7001 played 2.5 s of 10 s: the skip is in clip 1 of 88001
    user, item = dataset.token2id("user_id", "7001"), dataset.token2id("item_id", "88001")
    assert (user, item * 4 + 1) in set(zip(negative.rows.tolist(), negative.cols.tolist()))


def test_units_and_eight_clips(tmp_path):
    eight = {token: np.repeat(array, 2, axis=0) for token, array in CLIPS.items()}
    out = tmp_path / "data" / "mva"
    mva.convert(release(tmp_path, eight), out, playing_time_unit="s", timestamp_unit="ms", quiet=True)
    assert read_inter(out).loc[("7001", "88001"), "play_time"] == "2500"
    config = yaml.safe_load((out / "mva.yaml").read_text())
    assert config["n_clips"] == 8
    dataset = WatchTimeDataset(Config(model="BPR", dataset="mva", config_dict={
        "state": "ERROR", "data_path": str(out.parent), "n_clips": 4}))
    # eight clips pooled pairwise back into four
    np.testing.assert_array_equal(dataset.clip_features[dataset.token2id("item_id", "88004")].numpy(),
                                  CLIPS["88004"])


def test_bad_clip_files_are_errors_naming_the_file(tmp_path):
    raw = release(tmp_path)
    bad = raw / "fast_video_feature" / "88002.npy"
    np.save(bad, np.zeros((4, 5), dtype=np.float32))
    with pytest.raises(ConversionError, match="another shape") as caught:
        mva.convert(raw, tmp_path / "data" / "mva", quiet=True)
    assert caught.value.file == str(bad)
    objects = np.empty(2, dtype=object)
    objects[:] = [1, "x"]
    np.save(bad, objects, allow_pickle=True)
    with pytest.raises(ConversionError, match="pickled"):
        mva.convert(raw, tmp_path / "data" / "mva", quiet=True)
    assert not (tmp_path / "data" / "mva").exists()


def test_bad_interaction_row_and_missing_column(tmp_path):
    raw = release(tmp_path)
    path = raw / "data_final2.csv"
    path.write_text(path.read_text().replace("7001,88003,9000", "7001,88003,nine"))
    with pytest.raises(ConversionError, match="bad number") as caught:
        mva.convert(raw, tmp_path / "data" / "mva", quiet=True)
    assert (caught.value.line, caught.value.field) == (4, "playing_time")
    path.write_text("user_id,photo_id,duration_ms\n1,2,3\n")
    with pytest.raises(ConversionError, match="required column"):
        mva.convert(raw, tmp_path / "data" / "mva", quiet=True)


def test_cli_without_clip_features(tmp_path, capsys):
    raw = tmp_path / "raw"
    shutil.copytree(FIXTURE, raw)
    out = tmp_path / "data" / "mva"
    assert main(["mva", "--raw", str(raw), "--out", str(out), "--timestamp-unit", "ms"]) == 0
    assert "rows read: 8, kept: 6" in capsys.readouterr().out
    assert "clip_features" not in yaml.safe_load((out / "mva.yaml").read_text())
    assert main(["mva", "--raw", str(raw), "--out", str(tmp_path / "data" / "m2"), "--clip-dir", "nowhere"]) == 1
