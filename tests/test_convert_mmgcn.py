"""Converter for the MMGCN / GRCN .npy layout (train.npy, val_full.npy, test_full.npy, features)."""

import fractions
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from recbole_denoise.data.convert import mmgcn_layout
from recbole_denoise.data.convert.writer import ConversionError

REPO = Path(__file__).resolve().parents[1]
N_USERS = 4  # the item offset of the hand-written layout below; items 0..5 are stored as 4..9

# [user, item + 4] pairs; the last one repeats the first
TRAIN = [[0, 4], [0, 5], [1, 6], [1, 4], [2, 7], [3, 8], [3, 9], [0, 4]]
# one row per user: [user, item + 4, ...]; user 1 repeats item 3, user 2 lists no item
VALID = [[0, 6], [1, 7, 7], [2], [3, 4]]
TEST = [[0, 7], [1, 8], [2, 9, 4], [3, 5]]
N_ITEMS = 6
VISUAL = np.arange(N_ITEMS * 3, dtype=np.float32).reshape(N_ITEMS, 3) / 4 - 1  # row i = item i
ACOUSTIC = np.array([[0.5, -0.5], [1, 2], [3, 4], [5, 6], [7, 8], [9, 10]], dtype=np.float32)
# (item index, word id): item 2 uses word 0 twice; items 1, 3 and 4 have no title word
WORDS = [[0, 0, 2, 2, 5], [1, 3, 0, 0, 7]]


def object_rows(rows):
    """A 1-d object array of ragged rows, as MMGCN pickles val_full.npy / test_full.npy."""
    array = np.empty(len(rows), dtype=object)
    for index, row in enumerate(rows):
        array[index] = list(row)
    return array


def write_layout(folder: Path, *, train=TRAIN, valid=VALID, test=TEST, pt_features=True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if train is not None:
        np.save(folder / "train.npy", np.asarray(train, dtype=np.int64))
    np.save(folder / "val_full.npy", object_rows(valid), allow_pickle=True)
    np.save(folder / "test_full.npy", object_rows(test), allow_pickle=True)
    if pt_features:
        torch.save(torch.from_numpy(VISUAL), folder / "feat_v.pt")
        torch.save(torch.from_numpy(ACOUSTIC), folder / "feat_a.pt")
        torch.save(torch.tensor(WORDS, dtype=torch.int64), folder / "feat_t.pt")
    return folder


def read_split(out: Path, split: str):
    frame = pd.read_csv(out / f"{out.name}.{split}.inter", sep="\t", dtype=str)
    assert list(frame.columns) == ["user_id:token", "item_id:token"]
    return [tuple(row) for row in frame.values.tolist()]


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


def test_tiktok_style_round_trip_with_features_and_recbole(tmp_path):
    raw = write_layout(tmp_path / "raw")
    out = tmp_path / "data" / "tiktok"
    summary = mmgcn_layout.convert(raw, out, trust_pickle=True, quiet=True)

    assert summary.rows_read == 18 and summary.rows_kept == 15
    assert summary.dropped == {"train: repeated (user, item) pair": 1, "valid: row with no item": 1,
                               "valid: repeated (user, item) pair": 1}
    assert read_split(out, "train") == [("0", "0"), ("0", "1"), ("1", "2"), ("1", "0"), ("2", "3"), ("3", "4"),
                                        ("3", "5")]
    assert read_split(out, "valid") == [("0", "2"), ("1", "3"), ("3", "0")]
    assert read_split(out, "test") == [("0", "3"), ("1", "4"), ("2", "5"), ("2", "0"), ("3", "1")]

    config = yaml.safe_load((out / "tiktok.yaml").read_text())
    assert config["benchmark_filename"] == ["train", "valid", "test"]
    assert config["load_col"] == {"inter": ["user_id", "item_id"]}
    assert config["metrics"] == ["Recall", "NDCG", "Precision"] and config["topk"] == [10]
    assert config["valid_metric"] == "Recall@10"
    assert config["item_modalities"] == {
        "visual": {"file": "tiktok.visual.npy", "tokens": "tiktok.visual.tokens"},
        "acoustic": {"file": "tiktok.acoustic.npy", "tokens": "tiktok.acoustic.tokens"},
        "textual": {"words": "tiktok.textual_words.npy", "tokens": "tiktok.textual.tokens", "n_words": 8},
    }

    visual = np.load(out / "tiktok.visual.npy", allow_pickle=False)
    assert visual.dtype == np.float32 and visual.shape == (N_ITEMS, 3)
    np.testing.assert_array_equal(feature_row(out, "visual", "4"), VISUAL[4])
    np.testing.assert_array_equal(feature_row(out, "acoustic", "1"), ACOUSTIC[1])
    words = np.load(out / "tiktok.textual_words.npy", allow_pickle=False)
    tokens = (out / "tiktok.textual.tokens").read_text().splitlines()
    assert words.dtype == np.int64 and words.shape == (5, 2) and len(tokens) == N_ITEMS
    assert sorted(words[words[:, 0] == tokens.index("2"), 1].tolist()) == [0, 0]  # repeated word kept
    assert words[words[:, 0] == tokens.index("5"), 1].tolist() == [7]
    assert not (words[:, 0] == tokens.index("3")).any()

    dataset = load_with_recbole(out)
    assert (dataset.user_num, dataset.item_num, dataset.inter_num) == (4 + 1, 6 + 1, 15)
    assert dataset.file_size_list == [7, 3, 5]


def test_movielens_npy_features_and_given_offset(tmp_path):
    raw = write_layout(tmp_path / "raw", pt_features=False)
    np.save(raw / "FeatureVideo_normal.npy", VISUAL.astype(np.float64))
    np.save(raw / "FeatureText_stl_normal.npy", ACOUSTIC)
    out = tmp_path / "movielens"
    summary = mmgcn_layout.convert(raw, out, n_users=N_USERS, trust_pickle=True, quiet=True)
    assert summary.stats["item offset (n_users)"] == "4 (given)"
    config = yaml.safe_load((out / "movielens.yaml").read_text())
    assert sorted(config["item_modalities"]) == ["textual", "visual"]
    np.testing.assert_array_equal(feature_row(out, "visual", "5"), VISUAL[5])
    np.testing.assert_array_equal(feature_row(out, "textual", "3"), ACOUSTIC[3])


def test_object_arrays_need_trust_pickle_and_nothing_is_written(tmp_path):
    raw = write_layout(tmp_path / "raw")
    with pytest.raises(ConversionError) as caught:
        mmgcn_layout.convert(raw, tmp_path / "out" / "tiktok", quiet=True)
    message = str(caught.value)
    assert "val_full.npy" in message and "--trust-pickle" in message and "pickled object array" in message
    assert not (tmp_path / "out").exists()


def test_missing_train_file_is_a_clear_error(tmp_path):
    raw = write_layout(tmp_path / "raw", train=None)
    with pytest.raises(ConversionError, match=r"train\.npy: required file missing.*\(E, 2\) array"):
        mmgcn_layout.convert(raw, tmp_path / "out" / "tiktok", trust_pickle=True, quiet=True)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("file_name", ["FeatureVideo_normal.npy", "feat_a.pt"])
def test_feature_rows_must_match_the_items(tmp_path, file_name):
    raw = write_layout(tmp_path / "raw", pt_features=False)
    short = np.ones((N_ITEMS - 1, 3), dtype=np.float32)
    if file_name.endswith(".pt"):
        torch.save(torch.from_numpy(short), raw / file_name)
    else:
        np.save(raw / file_name, short)
    with pytest.raises(ConversionError) as caught:
        mmgcn_layout.convert(raw, tmp_path / "out" / "tiktok", trust_pickle=True, quiet=True)
    message = str(caught.value)
    assert file_name in message and "has 5 rows" in message and "imply 6 items" in message
    assert "expected 6 rows, found '5 rows'" in message
    assert not (tmp_path / "out").exists()


def test_word_pairs_beyond_the_items_are_an_error(tmp_path):
    raw = write_layout(tmp_path / "raw")
    torch.save(torch.tensor([[0, 7], [1, 2]], dtype=torch.int64), raw / "feat_t.pt")
    with pytest.raises(ConversionError, match=r"feat_t\.pt.*has 8 rows but the interactions imply 6 items"):
        mmgcn_layout.convert(raw, tmp_path / "tiktok", trust_pickle=True, quiet=True)


@pytest.mark.parametrize(
    "n_users, valid, file_name, field, found",
    [
        (3, VALID, "train.npy", "user", "found 3"),  # user 3 is not below the offset
        (None, [[0, 6], [1, 2]], "val_full.npy", "item", "found 2"),  # item value below the inferred offset
        (None, [[0, 6], [1, "7"]], "val_full.npy", "[user, item, ...]", "bad row 1"),
    ],
)
def test_ids_that_break_the_layout_name_file_and_field(tmp_path, n_users, valid, file_name, field, found):
    raw = write_layout(tmp_path / "raw", valid=valid)
    with pytest.raises(ConversionError) as caught:
        mmgcn_layout.convert(raw, tmp_path / "tiktok", n_users=n_users, trust_pickle=True, quiet=True)
    message = str(caught.value)
    assert file_name in message and f"field '{field}'" in message and found in message


def test_a_pt_file_that_needs_unpickling_is_refused(tmp_path):
    raw = write_layout(tmp_path / "raw")
    torch.save({"features": fractions.Fraction(1, 3)}, raw / "feat_v.pt")  # not loadable with weights_only
    with pytest.raises(ConversionError, match=r"feat_v\.pt: cannot be read with torch\.load\(weights_only=True\)"):
        mmgcn_layout.convert(raw, tmp_path / "tiktok", trust_pickle=True, quiet=True)


def test_failed_overwrite_keeps_the_earlier_output(tmp_path):
    raw = write_layout(tmp_path / "raw")
    out = tmp_path / "tiktok"
    mmgcn_layout.convert(raw, out, trust_pickle=True, quiet=True)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    torch.save(torch.ones(N_ITEMS + 1, 3), raw / "feat_v.pt")
    with pytest.raises(ConversionError, match="7 rows"):
        mmgcn_layout.convert(raw, out, trust_pickle=True, overwrite=True, quiet=True)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw", "tiktok"]  # no staged leftovers


def test_cli(tmp_path):
    raw = write_layout(tmp_path / "raw")

    def cli(*extra):
        return subprocess.run(
            [sys.executable, "-m", "recbole_denoise.data.convert", "mmgcn", "--raw", str(raw),
             "--out", str(tmp_path / "tiktok"), *extra],
            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
        )

    refused = cli()
    assert refused.returncode == 1 and "--trust-pickle" in refused.stderr
    result = cli("--trust-pickle", "--n-users", "4")
    assert result.returncode == 0, result.stderr
    assert "rows read: 18, kept: 15, dropped: 3" in result.stdout
    assert "textual features:" in result.stdout
