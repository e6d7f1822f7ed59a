"""Every converter writes its paper's protocol, so a dataset converted under any new name
is evaluated as its paper evaluates it when loaded through the package's Config."""

import shutil
from pathlib import Path

import pytest

from recbole_denoise.config import Config
from recbole_denoise.data.convert import convert

FIXTURES = Path(__file__).resolve().parent / "fixtures"

ADT_50_100 = {"metrics": ["Recall", "NDCG"], "topk": [50, 100], "valid_metric": "Recall@50", "mode": "full"}
ADT_3_20 = {"metrics": ["Recall", "NDCG"], "topk": [3, 20], "valid_metric": "Recall@20", "mode": "full"}
GRCN = {"metrics": ["Recall", "NDCG", "Precision"], "topk": [10], "valid_metric": "Recall@10", "mode": "full"}
WATCH = {"metrics": ["AUC", "LogLoss"], "topk": [3, 5], "valid_metric": "Recall@3", "mode": "labeled",
         "own_items_eval": True}


def renamed_adt_files(tmp_path: Path) -> Path:
    """The Yelp-style ADT fixture under a prefix that is none of the paper's datasets."""
    raw = tmp_path / "raw"
    raw.mkdir()
    for source in (FIXTURES / "adt" / "yelp").iterdir():
        shutil.copy(source, raw / source.name.replace("yelp", "toy"))
    return raw


CASES = {
    "adt, unknown prefix": ("adt", renamed_adt_files, {}, ADT_50_100),
    "adt, adressa prefix": ("adt", lambda _: FIXTURES / "adt" / "adressa", {}, ADT_3_20),
    "yelp": ("yelp", lambda _: FIXTURES / "yelp" / "yelp_academic_dataset_review.json", {}, ADT_50_100),
    "amazon-book": ("amazon-book", lambda _: FIXTURES / "amazon_book" / "ratings_Books.csv", {}, ADT_50_100),
    "adressa": ("adressa", lambda _: FIXTURES / "adressa" / "one_week", {}, ADT_3_20),
    "mmrec": ("mmrec", lambda _: FIXTURES / "mmrec" / "toy.inter", {}, GRCN),
    "tiktok": ("tiktok", lambda _: FIXTURES / "tiktok" / "final_track2_train.txt", {}, GRCN),
    "watch-csv": ("watch-csv", lambda _: FIXTURES / "watch_csv" / "interactions.csv", {}, WATCH),
    "kuairand": ("kuairand", lambda _: FIXTURES / "kuairand" / "KuaiRand-Pure", {}, WATCH),
    "mva": ("mva", lambda _: FIXTURES / "mva", {}, WATCH),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_new_name_is_evaluated_with_the_papers_protocol(tmp_path, case):
    source, raw, options, expected = CASES[case]
    out = tmp_path / "data" / "my_new_data"
    convert(source, raw(tmp_path), out, quiet=True, **options)
    config = Config(model="BPR", dataset="my_new_data",
                    config_dict={"state": "ERROR", "data_path": str(out.parent)})
    assert config["valid_metric"] == expected["valid_metric"]  # not RecBole's default MRR@10
    assert config["topk"] == expected["topk"]
    assert config["metrics"] == expected["metrics"]
    assert config["eval_args"]["mode"] == {"valid": expected["mode"], "test": expected["mode"]}
    assert bool(config["own_items_eval"]) == expected.get("own_items_eval", False)
