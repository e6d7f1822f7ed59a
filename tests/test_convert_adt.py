"""Converter for the ADT authors' layout (<ds>.train.rating, <ds>.valid.rating, <ds>.test.negative)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from recbole_denoise.data.convert import adt_layout
from recbole_denoise.data.convert.writer import ConversionError

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "adt"


def load_with_recbole(out_dir: Path):
    """The converted dataset as RecBole itself loads it, through the yaml the converter wrote."""
    from recbole.config import Config
    from recbole.data import create_dataset

    name = out_dir.name
    config = Config(model="BPR", dataset=name, config_file_list=[str(out_dir / f"{name}.yaml")],
                    config_dict={"data_path": str(out_dir.parent), "state": "ERROR", "show_progress": False})
    return create_dataset(config)


def recbole_clean_flags(dataset, split_sizes):
    """{(split, user token, item token): clean} from a RecBole dataset loaded with benchmark files."""
    frame = dataset.inter_feat
    users = dataset.id2token("user_id", frame["user_id"].to_numpy())
    items = dataset.id2token("item_id", frame["item_id"].to_numpy())
    splits = [name for name, size in split_sizes for _ in range(size)]
    return {(s, u, i): c for s, u, i, c in zip(splits, users, items, frame["clean"])}


def read_atomic(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", dtype=str)


def copy_fixture(tmp_path: Path, name: str) -> Path:
    raw = tmp_path / "raw"
    shutil.copytree(FIXTURES / name, raw)
    return raw


def replace_line(path: Path, number: int, text: str) -> None:
    lines = path.read_text().splitlines()
    lines[number - 1] = text
    path.write_text("\n".join(lines) + "\n")


def test_yelp_style_round_trip_with_pandas_and_recbole(tmp_path):
    out = tmp_path / "data" / "yelp"
    summary = adt_layout.convert(FIXTURES / "yelp", out, quiet=True)

    assert summary.rows_read == 22 and summary.rows_kept == 22 and summary.dropped == {}
    assert summary.stats["users"] == 5 and summary.stats["items"] == 8
    assert summary.stats["train false positives"] == 3 and summary.stats["valid false positives"] == 2

    train = read_atomic(out / "yelp.train.inter")
    assert list(train.columns) == ["user_id:token", "item_id:token", "clean:float"]
    assert len(train) == 12
    test = read_atomic(out / "yelp.test.inter")
    # extra columns after "user \t item" are ignored; every test pair is clean
    assert test.values.tolist() == [["0", "4", "1"], ["1", "6", "1"], ["2", "7", "1"], ["3", "3", "1"],
                                    ["4", "5", "1"]]

    config = yaml.safe_load((out / "yelp.yaml").read_text())
    assert config["benchmark_filename"] == ["train", "valid", "test"]
    assert config["load_col"] == {"inter": ["user_id", "item_id", "clean"]}
    assert config["clean_field"] == "clean"
    assert config["topk"] == [50, 100] and config["valid_metric"] == "Recall@50"

    dataset = load_with_recbole(out)
    assert dataset.user_num == 5 + 1 and dataset.item_num == 8 + 1  # + RecBole's [PAD]
    assert dataset.inter_num == 22 and dataset.file_size_list == [12, 5, 5]
    flags = recbole_clean_flags(dataset, [("train", 12), ("valid", 5), ("test", 5)])
    assert flags[("train", "0", "1")] == 0 and flags[("train", "3", "2")] == 0
    assert flags[("train", "0", "0")] == 1 and flags[("train", "4", "7")] == 1
    assert flags[("valid", "1", "5")] == 0 and flags[("valid", "0", "3")] == 1
    assert flags[("test", "1", "6")] == 1


def test_adressa_style_tuple_test_file_and_repeated_pairs(tmp_path):
    out = tmp_path / "adressa"
    summary = adt_layout.convert(FIXTURES / "adressa", out, quiet=True)

    test = read_atomic(out / "adressa.test.inter")
    assert test.values.tolist() == [["10", "103", "1"], ["11", "104", "1"], ["12", "100", "1"],
                                    ["13", "101", "1"]]
    # the last train line has no line ending, like the authors' files; its repeated pair is kept
    assert summary.stats["train rows"] == 9 and summary.stats["train repeated pairs (kept)"] == 1

    config = yaml.safe_load((out / "adressa.yaml").read_text())
    assert config["topk"] == [3, 20] and config["valid_metric"] == "Recall@20"

    dataset = load_with_recbole(out)
    assert dataset.user_num == 4 + 1 and dataset.item_num == 5 + 1 and dataset.inter_num == 16
    flags = recbole_clean_flags(dataset, [("train", 9), ("valid", 3), ("test", 4)])
    assert flags[("train", "10", "100")] == 0 and flags[("train", "11", "100")] == 1
    assert flags[("valid", "11", "103")] == 0 and flags[("test", "13", "101")] == 1


def test_raw_may_be_one_of_the_three_files(tmp_path):
    summary = adt_layout.convert(FIXTURES / "adressa" / "adressa.valid.rating", tmp_path / "adr", quiet=True)
    assert summary.options == {"prefix": "adressa", "clean_threshold": None}
    assert (tmp_path / "adr" / "adr.train.inter").is_file()


def test_prefix_is_needed_when_several_datasets_share_a_folder(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    for name in ("yelp", "adressa"):
        for source in (FIXTURES / name).iterdir():
            shutil.copy(source, raw / source.name)
    with pytest.raises(ConversionError, match="pass --prefix"):
        adt_layout.convert(raw, tmp_path / "mixed", quiet=True)
    adt_layout.convert(raw, tmp_path / "mixed", prefix="adressa", quiet=True)
    adt_layout.convert(raw, tmp_path / "yelp", quiet=True)  # the output name picks the prefix
    assert len(read_atomic(tmp_path / "yelp" / "yelp.train.inter")) == 12


def test_unknown_dataset_name_gets_the_adt_protocol(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    for source in (FIXTURES / "yelp").iterdir():
        shutil.copy(source, raw / source.name.replace("yelp", "toy"))
    summary = adt_layout.convert(raw, tmp_path / "toy", quiet=True)
    config = yaml.safe_load((tmp_path / "toy" / "toy.yaml").read_text())
    assert config["topk"] == [50, 100] and config["valid_metric"] == "Recall@50"
    assert config["metrics"] == ["Recall", "NDCG"] and config["eval_args"]["mode"] == "full"
    assert "not one of the paper's datasets" in summary.stats["protocol"]


@pytest.mark.parametrize(
    "file_name, line, text, field, found",
    [
        ("yelp.train.rating", 3, "0\t2\t2", "flag", "'2'"),
        ("yelp.train.rating", 5, "1\tthree\t1", "item", "'three'"),
        ("yelp.valid.rating", 2, "1\t5", "user\\titem\\tflag", "'1\\t5'"),
        ("yelp.test.negative", 4, "3", "item", "'3'"),
        ("yelp.test.negative", 1, "-1\t4", "user", "'-1'"),
    ],
)
def test_malformed_line_names_file_line_and_field(tmp_path, file_name, line, text, field, found):
    raw = copy_fixture(tmp_path, "yelp")
    replace_line(raw / file_name, line, text)
    with pytest.raises(ConversionError) as caught:
        adt_layout.convert(raw, tmp_path / "yelp", quiet=True)
    message = str(caught.value)
    assert file_name in message and f"line {line}," in message and f"field '{field}'" in message
    assert found in message
    assert caught.value.line == line


@pytest.mark.parametrize("tuple_text", ["(10; 103)", "(__import__('os').getcwd(), 1)", "(10, 103"])
def test_bad_adressa_tuple_is_an_error_and_never_evaluated(tmp_path, tuple_text):
    raw = copy_fixture(tmp_path, "adressa")
    replace_line(raw / "adressa.test.negative", 2, f"{tuple_text}\t100\t101")
    with pytest.raises(ConversionError, match=r"adressa\.test\.negative, line 2, field '\(user, item\)'"):
        adt_layout.convert(raw, tmp_path / "adressa", quiet=True)


def test_missing_file_is_named(tmp_path):
    raw = copy_fixture(tmp_path, "yelp")
    (raw / "yelp.test.negative").unlink()
    with pytest.raises(ConversionError, match=r"yelp\.test\.negative: required file missing"):
        adt_layout.convert(raw, tmp_path / "yelp", quiet=True)


def test_failed_conversion_leaves_no_output_and_keeps_an_existing_one(tmp_path):
    raw = copy_fixture(tmp_path, "yelp")
    replace_line(raw / "yelp.test.negative", 5, "4\tfive")
    out_parent = tmp_path / "data"
    with pytest.raises(ConversionError):
        adt_layout.convert(raw, out_parent / "yelp", quiet=True)
    assert not (out_parent / "yelp").exists()
    assert not out_parent.exists() or list(out_parent.iterdir()) == []

    adt_layout.convert(FIXTURES / "yelp", out_parent / "yelp", quiet=True)
    before = {p.name: p.read_bytes() for p in (out_parent / "yelp").iterdir()}
    with pytest.raises(ConversionError, match="line 5"):
        adt_layout.convert(raw, out_parent / "yelp", overwrite=True, quiet=True)
    assert {p.name: p.read_bytes() for p in (out_parent / "yelp").iterdir()} == before
    assert sorted(p.name for p in out_parent.iterdir()) == ["yelp"]


def test_refuses_to_overwrite_without_the_flag(tmp_path):
    out = tmp_path / "yelp"
    adt_layout.convert(FIXTURES / "yelp", out, quiet=True)
    with pytest.raises(ConversionError, match="exists"):
        adt_layout.convert(FIXTURES / "yelp", out, quiet=True)
    adt_layout.convert(FIXTURES / "yelp", out, overwrite=True, quiet=True)


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "recbole_denoise.data.convert", *map(str, args)],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
    )


def test_cli_converts_and_prints_the_summary(tmp_path):
    result = run_cli("adt", "--raw", FIXTURES / "adressa", "--out", tmp_path / "adressa")
    assert result.returncode == 0, result.stderr
    assert "rows read: 16, kept: 16, dropped: 0" in result.stdout
    assert (tmp_path / "adressa" / "adressa.test.inter").is_file()

    again = run_cli("adt", "--raw", FIXTURES / "adressa", "--out", tmp_path / "adressa")
    assert again.returncode == 1 and "--overwrite" in again.stderr


def test_cli_reports_a_malformed_file(tmp_path):
    raw = copy_fixture(tmp_path, "yelp")
    replace_line(raw / "yelp.valid.rating", 4, "3\t0\tyes")
    result = run_cli("adt", "--raw", raw, "--out", tmp_path / "yelp", "--prefix", "yelp")
    assert result.returncode == 1
    assert "yelp.valid.rating, line 4, field 'flag'" in result.stderr
    assert not (tmp_path / "yelp").exists()


# --------------------------------------------------------------------------- rated files (--clean-threshold)


def test_rated_files_convert_with_the_papers_threshold(tmp_path):
    out = tmp_path / "data" / "rated"
    summary = adt_layout.convert(FIXTURES / "rated", out, clean_threshold=3, quiet=True)
    assert summary.options == {"prefix": "ml", "clean_threshold": 3}
    assert (summary.rows_read, summary.rows_kept) == (21, 21)
    assert summary.stats["noise rule"] == "clean = rating >= 3; test file ml.test.rating"
    flags = {split: read_atomic(out / f"rated.{split}.inter")["clean:float"].tolist()
             for split in ("train", "valid", "test")}
    # ratings 5 2 4.5 3 1 4 2.5 5 3 4 2 5 | 4 1 3 2 | 5 2 4 1 3.5: below 3 is a false positive
    assert flags == {"train": ["1", "0", "1", "1", "0", "1", "0", "1", "1", "1", "0", "1"],
                     "valid": ["1", "0", "1", "0"],
                     "test": ["1", "0", "1", "0", "1"]}
    assert list(read_atomic(out / "rated.train.inter").columns) == ["user_id:token", "item_id:token", "clean:float"]

    # the package's loader: train and valid keep false positives, the test is clean only (ADT protocol)
    from recbole_denoise.config import Config
    from recbole_denoise.utils import create_dataset, data_preparation

    config = Config(model="BPR", dataset="rated", config_dict={"data_path": str(out.parent), "state": "ERROR"})
    assert config["valid_metric"] == "Recall@50"
    dataset = create_dataset(config)
    train, valid, test = data_preparation(config, dataset)
    assert (len(train.dataset), len(valid.dataset)) == (12, 4)
    test_pairs = {(test.dataset.id2token("user_id", u), test.dataset.id2token("item_id", i))
                  for u, i in zip(test.dataset.inter_feat["user_id"].numpy(), test.dataset.inter_feat["item_id"].numpy())}
    assert test_pairs == {("0", "4"), ("2", "3"), ("3", "3")}


def test_rated_files_with_the_authors_test_pairs(tmp_path):
    raw = copy_fixture(tmp_path, "rated")
    (raw / "ml.test.rating").unlink()
    (raw / "ml.test.negative").write_text("(0, 4)\t1\t2\n(2, 3)\t0\n")
    summary = adt_layout.convert(raw, tmp_path / "ml", clean_threshold=4, quiet=True)
    assert summary.stats["noise rule"] == "clean = rating >= 4; test file ml.test.negative"
    assert summary.stats["train false positives"] == 6  # 2 3 1 2.5 3 2 are below 4
    assert read_atomic(tmp_path / "ml" / "ml.test.inter").values.tolist() == [["0", "4", "1"], ["2", "3", "1"]]


def test_rated_test_file_is_required_in_some_form(tmp_path):
    raw = copy_fixture(tmp_path, "rated")
    (raw / "ml.test.rating").unlink()
    with pytest.raises(ConversionError, match=r"ml\.test\.negative: required file missing; expected "
                                              r"ml\.test\.rating or ml\.test\.negative"):
        adt_layout.convert(raw, tmp_path / "ml", clean_threshold=3, quiet=True)


def test_without_the_threshold_a_rating_is_a_bad_flag(tmp_path):
    raw = copy_fixture(tmp_path, "rated")
    (raw / "ml.test.negative").write_text("0\t4\n")
    with pytest.raises(ConversionError, match=r"ml\.train\.rating, line 1, field 'flag'.*--clean-threshold"):
        adt_layout.convert(raw, tmp_path / "ml", quiet=True)


@pytest.mark.parametrize("file_name, line, text", [
    ("ml.train.rating", 4, "1\t0\tgood"),
    ("ml.valid.rating", 2, "1\t4\t"),
    ("ml.test.rating", 5, "3\t3\tnan"),
])
def test_non_numeric_rating_names_file_line_and_field(tmp_path, file_name, line, text):
    raw = copy_fixture(tmp_path, "rated")
    replace_line(raw / file_name, line, text)
    with pytest.raises(ConversionError) as caught:
        adt_layout.convert(raw, tmp_path / "data" / "ml", clean_threshold=3, quiet=True)
    assert f"{file_name}, line {line}, field 'rating'" in str(caught.value)
    assert "expected a number" in str(caught.value)
    assert not (tmp_path / "data").exists()


def test_cli_clean_threshold(tmp_path):
    result = run_cli("adt", "--raw", FIXTURES / "rated", "--out", tmp_path / "ml", "--clean-threshold", "3")
    assert result.returncode == 0, result.stderr
    assert "noise rule:" in result.stdout and "clean = rating >= 3" in result.stdout
    assert (tmp_path / "ml" / "ml.test.inter").is_file()
