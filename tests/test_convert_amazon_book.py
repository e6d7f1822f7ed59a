"""Converter for Amazon Books reviews: JSON lines (plain or gzipped) and the ratings-only CSV."""

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from recbole_denoise.data.convert import amazon_book
from recbole_denoise.data.convert.writer import ConversionError

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "amazon_book"
REVIEWS = FIXTURES / "reviews_Books_5.json"
RATINGS = FIXTURES / "ratings_Books.csv"


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
    frame = pd.read_csv(out_dir / f"{out_dir.name}.inter", sep="\t", dtype=str)
    frame.columns = [c.split(":")[0] for c in frame.columns]
    return frame.set_index(["user_id", "item_id"])


def edited_copy(tmp_path: Path, source: Path, line: int, text: str, name=None) -> Path:
    lines = source.read_text().splitlines()
    lines[line - 1] = text
    path = tmp_path / "raw" / (name or source.name)
    path.parent.mkdir(exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_json_round_trip_with_pandas_and_recbole(tmp_path):
    out = tmp_path / "amazon-book"
    summary = amazon_book.convert(REVIEWS, out, quiet=True)

    assert summary.rows_read == 14 and summary.rows_kept == 13
    assert summary.dropped == {amazon_book.DUPLICATE_REASON: 1}
    assert summary.options["format"] == "json"
    assert (summary.stats["users"], summary.stats["items"], summary.stats["false positives"]) == (5, 5, 5)

    inter = read_inter(out)
    # reader 3 re-reviewed book 2 with 2 stars: the later review wins and is a false positive
    assert inter.loc[("AHANDWRITTEN03", "000HANDB02")].tolist() == ["2", "1383000000", "0"]
    assert inter.loc[("AHANDWRITTEN02", "000HANDB01"), "clean"] == "1"  # 3 stars is clean

    config = yaml.safe_load((out / "amazon-book.yaml").read_text())
    assert config["load_col"] == {"inter": ["user_id", "item_id", "rating", "timestamp", "clean"]}
    assert config["topk"] == [50, 100] and config["valid_metric"] == "Recall@50"

    dataset = load_with_recbole(out)
    assert (dataset.user_num, dataset.item_num, dataset.inter_num) == (5 + 1, 5 + 1, 13)
    assert row_of(dataset, "AHANDWRITTEN03", "000HANDB02")["clean"] == 0.0
    assert row_of(dataset, "AHANDWRITTEN02", "000HANDB03")["clean"] == 1.0
    assert row_of(dataset, "AHANDWRITTEN04", "000HANDB05")["rating"] == 1.0


def test_csv_round_trip_with_pandas_and_recbole(tmp_path):
    out = tmp_path / "amazon-book"
    summary = amazon_book.convert(RATINGS, out, quiet=True)
    assert summary.options["format"] == "csv"
    assert summary.rows_read == 10 and summary.rows_kept == 9 and summary.stats["false positives"] == 3

    inter = read_inter(out)
    # the repeated pair's second line is older: the first line (1 star) is kept
    assert inter.loc[("AHANDCSVUSER01", "000CSVBK02")].tolist() == ["1", "1300001000", "0"]

    dataset = load_with_recbole(out)
    assert (dataset.user_num, dataset.item_num, dataset.inter_num) == (4 + 1, 4 + 1, 9)
    assert row_of(dataset, "AHANDCSVUSER04", "000CSVBK01")["clean"] == 0.0
    assert row_of(dataset, "AHANDCSVUSER02", "000CSVBK03")["clean"] == 1.0


def test_gzipped_json_and_folder_lookup(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    with gzip.open(raw / "Books.json.gz", "wb") as handle:
        handle.write(REVIEWS.read_bytes())
    assert amazon_book.convert(raw, tmp_path / "books", quiet=True).rows_kept == 13

    shutil.copy(RATINGS, raw / RATINGS.name)  # now two candidates: the user must pick one
    with pytest.raises(ConversionError, match="Books.json.gz, ratings_Books.csv"):
        amazon_book.convert(raw, tmp_path / "books2", quiet=True)


def test_format_option_overrides_the_file_name(tmp_path):
    raw = tmp_path / "ratings.txt"
    shutil.copy(RATINGS, raw)
    assert amazon_book.convert(raw, tmp_path / "books", raw_format="csv", quiet=True).rows_kept == 9
    with pytest.raises(ConversionError, match="invalid JSON"):
        amazon_book.convert(raw, tmp_path / "books2", quiet=True)


@pytest.mark.parametrize(
    "source, line, text, field, detail",
    [
        (RATINGS, 4, "AHANDCSVUSER02,000CSVBK03,3.0,1300003000,extra", "user,item,rating,timestamp",
         "expected 4 comma-separated columns"),
        (RATINGS, 6, "AHANDCSVUSER03,000CSVBK03,five,1300005000", "rating", "found 'five'"),
        (RATINGS, 1, "user,item,rating,timestamp", "rating", "found 'rating'"),  # no header allowed
        (RATINGS, 9, "AHANDCSVUSER04,000CSVBK01,0.0,1300008000", "rating", "from 1 to 5"),
        (REVIEWS, 5, '{"reviewerID": "AHANDWRITTEN02", "asin": "000HANDB04", "unixReviewTime": 1381100000}',
         "overall", "missing required field"),
        (REVIEWS, 8, '{"reviewerID": "AHANDWRITTEN03", "asin": "000HANDB02", "overall": 2.0, '
         '"unixReviewTime": "last week"}', "unixReviewTime", "found 'last week'"),
    ],
)
def test_malformed_line_names_file_line_and_field(tmp_path, source, line, text, field, detail):
    raw = edited_copy(tmp_path, source, line, text)
    with pytest.raises(ConversionError) as caught:
        amazon_book.convert(raw, tmp_path / "out" / "books", quiet=True)
    message = str(caught.value)
    assert source.name in message and f"line {line}," in message and f"field '{field}'" in message
    assert detail in message
    assert not (tmp_path / "out").exists()


def test_refuses_to_overwrite_without_the_flag(tmp_path):
    out = tmp_path / "books"
    amazon_book.convert(RATINGS, out, quiet=True)
    with pytest.raises(ConversionError, match="overwrite"):
        amazon_book.convert(REVIEWS, out, quiet=True)
    assert amazon_book.convert(REVIEWS, out, overwrite=True, quiet=True).rows_kept == 13
    assert len(read_inter(out)) == 13


def test_cli(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "recbole_denoise.data.convert", "amazon-book", "--raw", str(RATINGS),
         "--out", str(tmp_path / "amazon-book")],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "repeated review of the same book (kept the latest): 1" in result.stdout
    report = json.loads((tmp_path / "amazon-book" / "conversion.json").read_text())
    assert report["rows_read"] == 10 and report["dropped"] == {amazon_book.DUPLICATE_REASON: 1}
