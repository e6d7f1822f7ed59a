"""Converter for the Yelp Open Dataset review file (clean = stars >= 3)."""

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from recbole_denoise.data.convert import yelp
from recbole_denoise.data.convert.writer import ConversionError

REPO = Path(__file__).resolve().parents[1]
REVIEWS = REPO / "tests" / "fixtures" / "yelp" / "yelp_academic_dataset_review.json"
USER_A, USER_B, USER_C, USER_F = (f"usr{c}_hand_written_000{n}" for c, n in zip("ABCF", (1, 2, 3, 6)))
BAKERY, NOODLES = "biz1_corner_bakery_001", "biz2_noodle_house_0002"


def load_with_recbole(out_dir: Path):
    """The converted dataset as RecBole itself loads it, through the yaml the converter wrote."""
    from recbole.config import Config
    from recbole.data import create_dataset

    name = out_dir.name
    config = Config(model="BPR", dataset=name, config_file_list=[str(out_dir / f"{name}.yaml")],
                    config_dict={"data_path": str(out_dir.parent), "state": "ERROR", "show_progress": False})
    return create_dataset(config)


def row_of(dataset, user, item):
    """The RecBole inter_feat row of one (user token, item token) pair."""
    frame = dataset.inter_feat
    mask = (frame["user_id"] == dataset.token2id("user_id", user)) & (
        frame["item_id"] == dataset.token2id("item_id", item))
    assert mask.sum() == 1
    return frame[mask].iloc[0]


def read_inter(out_dir: Path) -> pd.DataFrame:
    frame = pd.read_csv(out_dir / f"{out_dir.name}.inter", sep="\t", dtype=str)
    frame.columns = [c.split(":")[0] for c in frame.columns]
    return frame.set_index(["user_id", "item_id"])


def corrupted_copy(tmp_path: Path, line: int, edit) -> Path:
    """The fixture with line ``line`` replaced by ``edit(record)`` (a dict, or raw text)."""
    lines = REVIEWS.read_text().splitlines()
    new = edit(json.loads(lines[line - 1]))
    lines[line - 1] = new if isinstance(new, str) else json.dumps(new)
    path = tmp_path / "raw" / REVIEWS.name
    path.parent.mkdir()
    path.write_text("\n".join(lines) + "\n")
    return path


def test_round_trip_with_pandas_and_recbole(tmp_path):
    out = tmp_path / "yelp"
    summary = yelp.convert(REVIEWS.parent, out, quiet=True)

    assert summary.rows_read == 20 and summary.rows_kept == 18
    assert summary.dropped == {yelp.DUPLICATE_REASON: 2}
    assert (summary.stats["users"], summary.stats["items"], summary.stats["false positives"]) == (6, 6, 5)

    inter = read_inter(out)
    assert list(pd.read_csv(out / "yelp.inter", sep="\t", nrows=0).columns) == [
        "user_id:token", "item_id:token", "rating:float", "timestamp:float", "clean:float"]
    # repeated reviews: the latest wins, whatever its line
    assert inter.loc[(USER_C, BAKERY)].tolist() == ["4", "1546416000", "1"]  # 2019 update, 4 stars
    assert inter.loc[(USER_A, BAKERY)].tolist() == ["5", "1514973600", "1"]  # 2018, not the 2017 1-star
    assert inter.loc[(USER_F, BAKERY), "timestamp"] == "1462406400"  # date without a time
    assert inter.loc[(USER_B, BAKERY), "clean"] == "1"  # 3 stars is clean
    assert inter.loc[(USER_B, NOODLES), "clean"] == "0"

    config = yaml.safe_load((out / "yelp.yaml").read_text())
    assert config["load_col"] == {"inter": ["user_id", "item_id", "rating", "timestamp", "clean"]}
    assert config["topk"] == [50, 100] and config["valid_metric"] == "Recall@50"
    assert config["metrics"] == ["Recall", "NDCG"] and config["clean_field"] == "clean"

    dataset = load_with_recbole(out)
    assert (dataset.user_num, dataset.item_num, dataset.inter_num) == (6 + 1, 6 + 1, 18)
    assert row_of(dataset, USER_C, BAKERY)["clean"] == 1.0
    assert row_of(dataset, USER_B, NOODLES)["clean"] == 0.0
    assert row_of(dataset, USER_B, NOODLES)["rating"] == 1.0
    assert int((dataset.inter_feat["clean"] == 0).sum()) == 5


def test_k_core_filter_counts_its_drops(tmp_path):
    summary = yelp.convert(REVIEWS, tmp_path / "yelp", min_interactions=2, quiet=True)
    reason = "k-core filter (users and items with < 2 interactions)"
    assert summary.dropped == {yelp.DUPLICATE_REASON: 2, reason: 3}
    assert summary.rows_kept == 15 and summary.stats["users"] == 4 and summary.stats["items"] == 5
    assert not read_inter(tmp_path / "yelp").index.get_level_values("user_id").isin([USER_F]).any()


def test_reads_a_gzipped_review_file(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    with gzip.open(raw / "yelp_academic_dataset_review.json.gz", "wb") as handle:
        handle.write(REVIEWS.read_bytes())
    assert yelp.convert(raw, tmp_path / "yelp", quiet=True).rows_kept == 18


@pytest.mark.parametrize(
    "line, edit, field, detail",
    [
        (7, lambda r: '{"review_id": "rv07", "user_id": ', None, "invalid JSON"),
        (3, lambda r: {k: v for k, v in r.items() if k != "stars"}, "stars", "missing required field"),
        (10, lambda r: {**r, "stars": "five"}, "stars", "found 'five'"),
        (11, lambda r: {**r, "stars": 6}, "stars", "expected a number from 1 to 5, found 6"),
        (12, lambda r: {**r, "date": "yesterday"}, "date", "found 'yesterday'"),
        (13, lambda r: {**r, "business_id": ""}, "business_id", "found ''"),
    ],
)
def test_malformed_line_names_file_line_and_field(tmp_path, line, edit, field, detail):
    raw = corrupted_copy(tmp_path, line, edit)
    with pytest.raises(ConversionError) as caught:
        yelp.convert(raw, tmp_path / "out" / "yelp", quiet=True)
    message = str(caught.value)
    assert REVIEWS.name in message and f"line {line}" in message
    if field:
        assert f"field '{field}'" in message
    assert detail in message
    assert not (tmp_path / "out").exists()


def test_empty_result_is_an_error_and_writes_nothing(tmp_path):
    with pytest.raises(ConversionError, match="no rows left.*k-core filter"):
        yelp.convert(REVIEWS, tmp_path / "yelp", min_interactions=10, quiet=True)
    assert list(tmp_path.iterdir()) == []


def test_existing_output_is_kept_on_refusal_and_on_failure(tmp_path):
    out = tmp_path / "yelp"
    yelp.convert(REVIEWS, out, quiet=True)
    before = (out / "yelp.inter").read_bytes()
    with pytest.raises(ConversionError, match="overwrite"):
        yelp.convert(REVIEWS, out, min_interactions=2, quiet=True)
    bad = corrupted_copy(tmp_path, 2, lambda r: {**r, "stars": None})
    with pytest.raises(ConversionError, match="line 2"):
        yelp.convert(bad, out, overwrite=True, quiet=True)
    assert (out / "yelp.inter").read_bytes() == before


def test_cli(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "recbole_denoise.data.convert", "yelp", "--raw", str(REVIEWS),
         "--out", str(tmp_path / "yelp"), "--min-interactions", "2"],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "rows read: 20, kept: 15, dropped: 5" in result.stdout
    report = json.loads((tmp_path / "yelp" / "conversion.json").read_text())
    assert report["options"] == {"min_interactions": 2} and report["rows_kept"] == 15
