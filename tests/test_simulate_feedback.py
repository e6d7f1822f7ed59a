"""The feedback simulator: seeded and deterministic, the bundled dataset is its seed-0 output,
and the planted truth holds (accidental clicks on disliked categories; explicit history
predicts the label better than the click history)."""

import filecmp
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recbole_denoise.data.simulate.feedback import Settings, simulate

BUNDLED = Path(__file__).resolve().parents[1] / "dataset" / "feedback-sim"
NAME = "feedback-sim"


def read_table(folder, suffix, name=NAME):
    frame = pd.read_csv(Path(folder) / f"{name}.{suffix}", sep="\t", dtype=str, keep_default_na=False)
    frame.columns = [column.split(":")[0] for column in frame.columns]
    return frame


@pytest.fixture(scope="module")
def bundled():
    inter = read_table(BUNDLED, "inter")
    item = read_table(BUNDLED, "item")
    for column in ("timestamp", "label", "click", "like", "dislike"):
        inter[column] = inter[column].astype(float)
    inter["cate"] = inter["item_id"].map(dict(zip(item["item_id"], item["cate_id"]))).str[1:].astype(int)
    inter["user"] = inter["user_id"].str[1:].astype(int)
    users = (BUNDLED / f"{NAME}.truth_users.tokens").read_text().split()
    taste = np.load(BUNDLED / f"{NAME}.truth_taste.npy")
    assert users == [f"u{u}" for u in range(len(users))]  # taste rows in user order
    inter["taste"] = taste[inter["user"], inter["cate"]]
    inter["accidental"] = np.load(BUNDLED / f"{NAME}.truth_accidental.npy")
    return inter


def test_same_seed_same_files_other_seed_other_files(tmp_path):
    small = Settings(n_users=60, n_items=80)
    for folder, seed in (("a", 3), ("b", 3), ("c", 4)):
        simulate(tmp_path / folder / NAME, seed=seed, settings=small, quiet=True)
    files = sorted(os.listdir(tmp_path / "a" / NAME))
    files.remove("conversion.json")  # holds the output path
    match, mismatch, errors = filecmp.cmpfiles(tmp_path / "a" / NAME, tmp_path / "b" / NAME, files, shallow=False)
    assert not mismatch and not errors
    assert not filecmp.cmp(tmp_path / "a" / NAME / f"{NAME}.inter", tmp_path / "c" / NAME / f"{NAME}.inter",
                           shallow=False)


def test_the_bundled_dataset_is_the_seed_0_output(tmp_path):
    simulate(tmp_path / NAME, seed=0, quiet=True)
    files = sorted(f for f in os.listdir(BUNDLED) if f != "conversion.json")
    assert sorted(f for f in os.listdir(tmp_path / NAME) if f != "conversion.json") == files
    match, mismatch, errors = filecmp.cmpfiles(BUNDLED, tmp_path / NAME, files, shallow=False)
    assert not mismatch and not errors, mismatch


def test_accidental_clicks_are_clicks_on_disliked_categories(bundled):
    accidental = bundled["accidental"].to_numpy()
    clicked_disliked = (bundled["click"] == 1) & (bundled["taste"] == -1)
    assert accidental.sum() > 1000
    assert np.array_equal(accidental, clicked_disliked.to_numpy())
    # some accidental clicks are disliked afterwards, some are not
    disliked_after = bundled.loc[accidental, "dislike"].mean()
    assert 0.5 < disliked_after < 0.9


def test_labels_and_explicit_feedback_follow_taste(bundled):
    assert (bundled["label"] == bundled["click"]).all()
    assert 0.2 < bundled["label"].mean() < 0.4
    assert (bundled.loc[bundled["like"] == 1, "taste"] >= 0).all()  # likes never on disliked categories
    assert (bundled.loc[bundled["dislike"] == 1, "taste"] == -1).all()
    assert (bundled.loc[bundled["like"] == 1, "click"] == 1).all()
    rate = bundled.groupby("taste")["click"].mean()
    assert rate[1] > rate[0] > rate[-1]  # liked > neutral > disliked, per impression
    shown = bundled["taste"].value_counts(normalize=True)
    assert shown[-1] > 0.4  # disliked categories are shown most: their clicks pile up


def earlier_share(frame, kind):
    """Per row: the share of the user's events of ``kind`` strictly before the row's time
    that fall in the row's category (0 when she has none)."""
    original = frame.index
    frame = frame.sort_values(["user", "timestamp"], kind="stable")
    mark = frame[kind].to_numpy()

    def before(keys):
        # running count minus the row's own, then the minimum over rows of the same second:
        # rows at the same second do not see each other
        running = pd.Series(mark, index=frame.index).groupby([frame[k] for k in keys]).cumsum() - mark
        return running.groupby([frame[k] for k in keys + ["timestamp"]]).transform("min")

    in_category, total = before(["user", "cate"]), before(["user"])
    share = np.where(total > 0, in_category / total.clip(lower=1), 0.0)
    return pd.Series(share, index=frame.index).reindex(original).to_numpy()


def auc(score, label):
    ranks = pd.Series(score).rank().to_numpy()
    positive = label == 1
    n_pos, n_neg = positive.sum(), (~positive).sum()
    return (ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def test_explicit_history_predicts_the_label_better_than_the_click_history(bundled):
    label = bundled["label"].to_numpy()
    clicks = auc(earlier_share(bundled, "click"), label)
    likes = auc(earlier_share(bundled, "like"), label)
    explicit = auc(earlier_share(bundled, "like") - earlier_share(bundled, "dislike"), label)
    assert clicks > 0.55  # the click history does carry taste ...
    assert likes > clicks + 0.01  # ... but less than the likes alone
    assert explicit > clicks + 0.05


def test_earlier_share_excludes_the_same_second():
    frame = pd.DataFrame({"user": [1, 1, 1, 1, 2], "timestamp": [3.0, 1.0, 2.0, 2.0, 0.0], "cate": [5, 5, 5, 6, 5],
                          "click": [0, 1, 1, 1, 1]})
    # rows 2 and 3 (t=2) see only row 1; row 0 (t=3) sees rows 1-3, two of three in category 5
    assert earlier_share(frame, "click").tolist() == [pytest.approx(2 / 3), 0.0, 1.0, 0.0, 0.0]
