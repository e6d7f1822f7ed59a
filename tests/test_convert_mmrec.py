"""Converter for the MMRec layout (<ds>.inter with x_label, image_feat.npy, text_feat.npy)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from recbole_denoise.data.convert import mmrec_layout
from recbole_denoise.data.convert.writer import ConversionError

REPO = Path(__file__).resolve().parents[1]
INTER = REPO / "tests" / "fixtures" / "mmrec" / "toy.inter"
N_ITEMS = 5  # itemIDs 0..4 in toy.inter
IMAGE = np.random.default_rng(7).normal(size=(N_ITEMS, 4096)).astype(np.float32)
TEXT = np.random.default_rng(8).normal(size=(N_ITEMS, 384)).astype(np.float32)


def raw_folder(tmp_path: Path, image=IMAGE, text=TEXT) -> Path:
    """The fixture .inter with feature arrays written beside it (row i = item i)."""
    raw = tmp_path / "raw"
    raw.mkdir()
    shutil.copy(INTER, raw / INTER.name)
    if image is not None:
        np.save(raw / "image_feat.npy", image)
    if text is not None:
        np.save(raw / "text_feat.npy", text)
    return raw


def read_split(out: Path, split: str) -> pd.DataFrame:
    return pd.read_csv(out / f"{out.name}.{split}.inter", sep="\t", dtype=str)


def feature_row(out: Path, modality: str, token: str) -> np.ndarray:
    tokens = (out / f"{out.name}.{modality}.tokens").read_text().splitlines()
    return np.load(out / f"{out.name}.{modality}.npy", allow_pickle=False)[tokens.index(token)]


def load_with_recbole(out_dir: Path):
    from recbole.config import Config
    from recbole.data import create_dataset

    name = out_dir.name
    config = Config(model="BPR", dataset=name, config_file_list=[str(out_dir / f"{name}.yaml")],
                    config_dict={"data_path": str(out_dir.parent), "state": "ERROR", "show_progress": False})
    return create_dataset(config)


def replace_line(path: Path, number: int, text: str) -> None:
    lines = path.read_text().split("\n")
    lines[number - 1] = text
    path.write_text("\n".join(lines))


def test_round_trip_with_features_and_recbole(tmp_path):
    out = tmp_path / "data" / "baby"
    summary = mmrec_layout.convert(raw_folder(tmp_path), out, quiet=True)

    assert summary.rows_read == 14 and summary.rows_kept == 11
    assert summary.dropped == {
        "train: repeated (user, item) pair": 1,
        mmrec_layout.COLD_START_REASON.format(split="valid"): 1,
        mmrec_layout.COLD_START_REASON.format(split="test"): 1,
    }
    train = read_split(out, "train")
    assert list(train.columns) == ["user_id:token", "item_id:token", "rating:float", "timestamp:float"]
    assert len(train) == 6
    assert train.iloc[5].tolist() == ["2", "3", "2.5", "1500000500"]
    assert read_split(out, "valid").values.tolist() == [["0", "2", "5", "1500000700"], ["1", "3", "4", "1500000800"]]
    assert read_split(out, "test")["user_id:token"].tolist() == ["0", "1", "2"]

    config = yaml.safe_load((out / "baby.yaml").read_text())
    assert config["benchmark_filename"] == ["train", "valid", "test"]
    assert config["valid_metric"] == "Recall@10" and config["topk"] == [10]  # GRCN's protocol
    assert config["item_modalities"] == {
        "image": {"file": "baby.image.npy", "tokens": "baby.image.tokens"},
        "text": {"file": "baby.text.npy", "tokens": "baby.text.tokens"},
    }
    assert np.load(out / "baby.image.npy").shape == (N_ITEMS, 4096)
    np.testing.assert_array_equal(feature_row(out, "image", "3"), IMAGE[3])
    np.testing.assert_array_equal(feature_row(out, "text", "4"), TEXT[4])

    dataset = load_with_recbole(out)
    assert (dataset.user_num, dataset.item_num, dataset.inter_num) == (3 + 1, 5 + 1, 11)
    assert dataset.file_size_list == [6, 2, 3]


def test_cold_start_users_can_be_kept_and_features_are_optional(tmp_path):
    out = tmp_path / "baby"
    summary = mmrec_layout.convert(INTER, out, keep_cold_start_users=True, quiet=True)
    assert summary.rows_kept == 13 and summary.dropped == {"train: repeated (user, item) pair": 1}
    assert read_split(out, "valid")["user_id:token"].tolist() == ["0", "1", "3"]
    assert "item_modalities" not in yaml.safe_load((out / "baby.yaml").read_text())


def test_feature_rows_must_match_the_items(tmp_path):
    raw = raw_folder(tmp_path, text=TEXT[:4])
    with pytest.raises(ConversionError) as caught:
        mmrec_layout.convert(raw, tmp_path / "out" / "baby", quiet=True)
    message = str(caught.value)
    assert "text_feat.npy" in message and "has 4 rows" in message and "imply 5 items" in message
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "line, text, field, found",
    [
        (1, "userID\titemID\trating\ttimestamp", "x_label", "header lacks"),
        (4, "1\t1\t3\t1500000200\t3", "x_label", "found '3'"),
        (5, "u1\t2\t5\t1500000300\t0", "userID", "found 'u1'"),
        (9, "0\t2\t5\t1500000700", "columns", "expected 5 tab-separated columns"),
        (13, "1\t0\tfour\t1500001100\t2", "rating", "found 'four'"),
    ],
)
def test_malformed_line_names_file_line_and_field(tmp_path, line, text, field, found):
    raw = raw_folder(tmp_path)
    replace_line(raw / INTER.name, line, text)
    with pytest.raises(ConversionError) as caught:
        mmrec_layout.convert(raw, tmp_path / "out" / "baby", quiet=True)
    message = str(caught.value)
    assert "toy.inter" in message and f"line {line}" in message and f"field '{field}'" in message
    assert found in message
    assert not (tmp_path / "out").exists()


def test_cli(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "recbole_denoise.data.convert", "mmrec", "--raw", str(raw_folder(tmp_path)),
         "--out", str(tmp_path / "baby"), "--keep-cold-start-users"],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "rows read: 14, kept: 13, dropped: 1" in result.stdout
    assert "image features: 5 items x 4096" in result.stdout
