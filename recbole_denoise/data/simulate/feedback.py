"""Simulated ad impressions with clicks, accidental clicks, likes and dislikes (SYNTHETIC data).

Run::

    python -m recbole_denoise.data.simulate.feedback --out dataset/feedback-sim \\
        [--seed 0] [--users 800] [--items 800] [--overwrite]

Nothing here comes from a real platform: every user, item and event is drawn from the
seeded generative model below, with planted truth, so that DUMN (Bian et al., RecSys
2021) can be checked against what it claims: clicks are noisy (users also click items
they dislike, by accident), explicit likes and dislikes reveal taste, and purifying the
click history with the dislike history (eq. 6-7) removes that noise. The same seed and
sizes give byte-identical files.

Generative model (``K = 12`` categories):

1. Items: a category ``c_i`` drawn with Zipf-like weights (exponent 0.6), a brand among
   the 5 brands of that category (so brand refines category), a quality
   ``q_i ~ N(0, 0.5)``.
2. Users: a gender token (2 values) and an age level (5 values); each age level has 3
   favoured categories. Taste ``s_uk`` in {+1 liked, 0 neutral, -1 disliked}: 2 liked
   categories, each drawn from the age level's favourites with probability 0.5, else
   uniformly; 3 disliked categories among the rest.
3. Impressions: each user sees 30 to 60 items (uniform), in pages of 1 to 4 items shown
   at the same second (ties that a history must exclude). A shown item's category is,
   with probabilities 0.25 / 0.45 / 0.30, one she likes / dislikes / is neutral about
   (the platform keeps showing disliked categories, which is where the noise comes
   from); the item is drawn by popularity within that category (Zipf, exponent 0.8).
4. Clicks (the label): a liked item is clicked with probability
   ``sigmoid(0.6 + q_i)``, a neutral one with ``sigmoid(-0.9 + q_i)``; a disliked one
   with ``0.12`` whatever its quality: an ACCIDENTAL click, the noise of the click
   history (truth: ``accidental``).
5. Explicit feedback: a clicked liked item is liked with probability 0.7 (a clicked
   neutral item 0.1); an accidental click is disliked with probability 0.7 and an
   unclicked disliked item with probability 0.3 ("not interested").
6. Time: each user's first page is at a uniform second of 8 days from 2017-05-06
   00:00 UTC (1494028800); the next page follows after ``1 + Exp(4 h)`` seconds (whole
   seconds).

So a user's like / dislike history names her liked / disliked categories without
noise, while her click history mixes liked categories with accidental clicks on
disliked ones (every click in a disliked category is accidental, about 18% of all
clicks with seed 0): a disliked category is clicked less often per impression than a
neutral one (0.12 against about 0.29) but shown more, so it gathers more clicks, and a
click history ranks it above neutral categories, a like / dislike history below.
``tests/test_simulate_feedback.py`` measures this with rates computed from the histories
(AUC of the label, seed 0: share of earlier clicks in the target's category about 0.60,
likes 0.62, likes minus dislikes 0.69; the true click probability 0.78).

Output, through the shared atomic writer (``dataset/<name>/``):

- ``<name>.inter``: ``user_id``, ``item_id`` tokens (``u0``..., ``i0``...), ``timestamp``
  (seconds), ``label`` (= ``click``), ``click``, ``like``, ``dislike`` (0 / 1; every row
  is an impression, so no cell is empty), for ``FeedbackHistoryDataset``;
- ``<name>.item``: ``item_id``, ``cate_id`` (``c0``...), ``brand`` (``b0``...);
  ``<name>.user``: ``user_id``, ``gender``, ``age_level``;
- the planted truth, named in the yaml under ``simulation``: ``<name>.truth_taste.npy``
  (n_users, K) int8, rows in the order of ``<name>.truth_users.tokens``, columns the
  categories ``c0``..; ``<name>.truth_accidental.npy`` (n_rows,) bool and
  ``<name>.truth_click_probability.npy`` (n_rows,) float32, row i = the i-th data line of
  ``<name>.inter``; ``<name>.truth_item_quality.npy`` (n_items,) float32 in item order
  ``i0``..;
- ``README.md`` saying that the data are synthetic, and the yaml (the DUMN data
  contract: ``feedback_fields``, ``history_item_fields``, ``history_length``, a
  time-ordered split, AUC and LogLoss).
"""

import argparse
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import List, Optional

import numpy as np
import pandas as pd

from recbole_denoise.data.convert.writer import (
    ITEM_FIELD,
    USER_FIELD,
    AtomicTable,
    ConversionError,
    ConversionSummary,
    check_dataset_name,
    ensure_output_free,
    finish_conversion,
    lines_file,
    npy_file,
)

SOURCE = "simulate-feedback"
GENERATOR = "recbole_denoise.data.simulate.feedback"
LIKED, NEUTRAL, DISLIKED = 1, 0, -1
# T of the dataset yaml: a user has at most 60 impressions, so 30 keeps most of every history
# while an epoch of DUMN stays short on one CPU core (the paper's 100 would pad most windows)
HISTORY_LENGTH = 30


@dataclass(frozen=True)
class Settings:
    """Every constant of the generative model (see the module docstring)."""

    n_users: int = 800
    n_items: int = 800
    n_categories: int = 12
    brands_per_category: int = 5
    category_exponent: float = 0.6  # Zipf weights of item categories
    popularity_exponent: float = 0.8  # Zipf weights of items within a category
    quality_std: float = 0.5
    n_genders: int = 2
    n_age_levels: int = 5
    favoured_per_age: int = 3
    favoured_share: float = 0.5  # a liked category is one of the age level's favourites with this probability
    n_liked: int = 2
    n_disliked: int = 3
    min_impressions: int = 30
    max_impressions: int = 60
    max_page: int = 4  # items shown at one second
    shown_liked: float = 0.25  # share of impressions in liked / disliked categories (the rest neutral)
    shown_disliked: float = 0.45
    liked_logit: float = 0.6  # click logit of a liked item, plus its quality
    neutral_logit: float = -0.9
    accidental_click: float = 0.12  # click probability of a disliked item
    like_liked: float = 0.7  # P(like | clicked liked item)
    like_neutral: float = 0.1  # P(like | clicked neutral item)
    dislike_accidental: float = 0.7  # P(dislike | accidental click)
    dislike_unclicked: float = 0.3  # P(dislike | unclicked disliked item)
    start_time: int = 1_494_028_800  # 2017-05-06 00:00 UTC
    start_spread: int = 8 * 24 * 3600
    gap_mean: float = 4 * 3600.0  # seconds between pages, beyond 1 s


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def zipf_weights(n: int, exponent: float) -> np.ndarray:
    weights = 1.0 / np.arange(1, n + 1) ** exponent
    return weights / weights.sum()


def draw_items(rng: np.random.Generator, s: Settings):
    """``(category, brand, quality)`` per item."""
    category = rng.choice(s.n_categories, size=s.n_items, p=zipf_weights(s.n_categories, s.category_exponent))
    brand = category * s.brands_per_category + rng.integers(0, s.brands_per_category, s.n_items)
    quality = rng.normal(0.0, s.quality_std, s.n_items)
    return category, brand, quality


def draw_users(rng: np.random.Generator, s: Settings):
    """``(gender, age_level, taste)``; taste [n_users, K] in {+1, 0, -1}."""
    gender = rng.integers(0, s.n_genders, s.n_users)
    age = rng.integers(0, s.n_age_levels, s.n_users)
    favoured = np.stack([rng.choice(s.n_categories, s.favoured_per_age, replace=False)
                         for _ in range(s.n_age_levels)])
    taste = np.zeros((s.n_users, s.n_categories), dtype=np.int8)
    for user in range(s.n_users):
        liked = []
        while len(liked) < s.n_liked:
            pool = favoured[age[user]] if rng.random() < s.favoured_share else np.arange(s.n_categories)
            pick = int(rng.choice(pool))
            if pick not in liked:
                liked.append(pick)
        rest = np.setdiff1d(np.arange(s.n_categories), liked)
        taste[user, liked] = LIKED
        taste[user, rng.choice(rest, s.n_disliked, replace=False)] = DISLIKED
    return gender, age, taste


def draw_impressions(rng: np.random.Generator, s: Settings, taste: np.ndarray, category: np.ndarray):
    """``(users, items)`` of every impression, each user's in showing order."""
    items_of = [np.flatnonzero(category == k) for k in range(s.n_categories)]
    popularity = [zipf_weights(len(items), s.popularity_exponent) for items in items_of]
    counts = rng.integers(s.min_impressions, s.max_impressions + 1, s.n_users)
    users = np.repeat(np.arange(s.n_users), counts)
    shown = np.empty(users.size, dtype=np.int64)
    group_share = np.array([s.shown_liked, s.shown_disliked, 1.0 - s.shown_liked - s.shown_disliked])
    groups = rng.choice(3, size=users.size, p=group_share)  # 0 liked, 1 disliked, 2 neutral
    group_taste = np.array([LIKED, DISLIKED, NEUTRAL])
    for row, (user, group) in enumerate(zip(users, groups)):
        candidates = np.flatnonzero((taste[user] == group_taste[group]) & np.array([len(i) > 0 for i in items_of]))
        k = int(rng.choice(candidates))
        shown[row] = items_of[k][rng.choice(len(items_of[k]), p=popularity[k])]
    return users, shown


def draw_feedback(rng: np.random.Generator, s: Settings, item_taste: np.ndarray, quality: np.ndarray):
    """``(p_click, click, accidental, like, dislike)`` per impression, from the user's taste of
    the item's category and the item's quality."""
    p_click = np.where(item_taste == LIKED, sigmoid(s.liked_logit + quality),
                       np.where(item_taste == NEUTRAL, sigmoid(s.neutral_logit + quality), s.accidental_click))
    click = rng.random(p_click.size) < p_click
    accidental = click & (item_taste == DISLIKED)
    p_like = np.where(click & (item_taste == LIKED), s.like_liked,
                      np.where(click & (item_taste == NEUTRAL), s.like_neutral, 0.0))
    like = rng.random(p_click.size) < p_like
    p_dislike = np.where(accidental, s.dislike_accidental,
                         np.where(~click & (item_taste == DISLIKED), s.dislike_unclicked, 0.0))
    dislike = rng.random(p_click.size) < p_dislike
    return p_click, click, accidental, like, dislike


def draw_times(rng: np.random.Generator, s: Settings, users: np.ndarray) -> np.ndarray:
    """Whole seconds: pages of 1..max_page impressions share a second; pages follow each
    other after ``1 + Exp(gap_mean)`` seconds."""
    times = np.empty(users.size, dtype=np.float64)
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    ends = np.r_[starts[1:], users.size]
    for start, end in zip(starts, ends):
        page_of = np.repeat(np.arange(end - start), rng.integers(1, s.max_page + 1, end - start))[: end - start]
        n_pages = page_of[-1] + 1
        page_time = s.start_time + rng.integers(0, s.start_spread) + np.cumsum(
            np.r_[0, 1 + np.floor(rng.exponential(s.gap_mean, n_pages - 1))])
        times[start:end] = page_time[page_of]
    return times


def simulate(out, *, seed: int = 0, settings: Optional[Settings] = None, name: Optional[str] = None,
             overwrite: bool = False, quiet: bool = False) -> ConversionSummary:
    """Draw a dataset with ``settings`` from ``seed`` and write it to ``out`` atomically."""
    s = settings or Settings()
    if s.n_liked + s.n_disliked > s.n_categories or s.shown_liked + s.shown_disliked > 1:
        raise ValueError(f"settings: {s.n_liked} liked + {s.n_disliked} disliked categories must fit in "
                         f"{s.n_categories}, and shown_liked + shown_disliked must be at most 1")
    dataset = check_dataset_name(Path(out), name)
    ensure_output_free(Path(out), overwrite)
    rng = np.random.default_rng(seed)
    category, brand, quality = draw_items(rng, s)
    gender, age, taste = draw_users(rng, s)
    users, items = draw_impressions(rng, s, taste, category)
    item_taste = taste[users, category[items]]
    p_click, click, accidental, like, dislike = draw_feedback(rng, s, item_taste, quality[items])
    times = draw_times(rng, s, users)

    user_tokens = np.array([f"u{u}" for u in range(s.n_users)])
    item_tokens = np.array([f"i{i}" for i in range(s.n_items)])
    flags = {"click": click, "like": like, "dislike": dislike}
    inter = pd.DataFrame({USER_FIELD: user_tokens[users], ITEM_FIELD: item_tokens[items], "timestamp": times,
                          "label": click.astype(np.float64), **{k: v.astype(np.float64) for k, v in flags.items()}})
    item = pd.DataFrame({ITEM_FIELD: item_tokens, "cate_id": [f"c{c}" for c in category],
                         "brand": [f"b{b}" for b in brand]})
    user = pd.DataFrame({USER_FIELD: user_tokens, "gender": [f"g{g}" for g in gender],
                         "age_level": [f"a{a}" for a in age]})
    summary = ConversionSummary(source=SOURCE, dataset=dataset, raw=f"simulated, seed {seed}", out=str(out),
                                options={"seed": seed, **asdict(s)})
    summary.rows_read = len(inter)
    summary.stats["clicks (label 1)"] = f"{int(click.sum())} ({click.mean():.1%})"
    summary.stats["accidental clicks"] = f"{int(accidental.sum())} ({accidental.sum() / click.sum():.1%} of clicks)"
    summary.stats["likes / dislikes"] = f"{int(like.sum())} / {int(dislike.sum())}"
    summary.stats["rows at a shared second"] = int(pd.Series(times).duplicated(keep=False).groupby(users).sum().sum())

    types = {"inter": {USER_FIELD: "token", ITEM_FIELD: "token", "timestamp": "float", "label": "float",
                       "click": "float", "like": "float", "dislike": "float"},
             "item": {ITEM_FIELD: "token", "cate_id": "token", "brand": "token"},
             "user": {USER_FIELD: "token", "gender": "token", "age_level": "token"}}
    tables = [AtomicTable("inter", inter, types["inter"]), AtomicTable("item", item, types["item"]),
              AtomicTable("user", user, types["user"])]
    extra_files, config = output_files(dataset, s, seed, user_tokens, taste, accidental, p_click, quality)
    return finish_conversion(summary, tables, dataset_config=config, overwrite=overwrite, quiet=quiet,
                             extra_files=extra_files)


def output_files(dataset, s: Settings, seed, user_tokens, taste, accidental, p_click, quality):
    """The truth files, README, and the yaml entries (the DUMN data contract and the truth)."""
    truth = {name: f"{dataset}.truth_{name}.npy" for name in ("taste", "accidental", "click_probability",
                                                               "item_quality")}
    users_file = f"{dataset}.truth_users.tokens"
    files = [
        npy_file(truth["taste"], taste.astype(np.int8)), lines_file(users_file, list(user_tokens)),
        npy_file(truth["accidental"], accidental.astype(bool)),
        npy_file(truth["click_probability"], p_click.astype(np.float32)),
        npy_file(truth["item_quality"], quality.astype(np.float32)),
        lines_file("README.md", readme_lines(dataset, seed, s)),
    ]
    rows = f"data lines of {dataset}.inter, in order"
    config = {
        "dataset_class": "FeedbackHistoryDataset",
        "LABEL_FIELD": "label",
        "feedback_fields": {"click": "click", "like": "like", "dislike": "dislike"},
        "feedback_events": None,
        "history_item_fields": [ITEM_FIELD, "cate_id", "brand"],
        "history_length": HISTORY_LENGTH,
        "eval_args": {"split": {"RS": [0.8, 0.1, 0.1]}, "order": "TO", "group_by": "user", "mode": "labeled"},
        "metrics": ["AUC", "LogLoss"],
        "valid_metric": "AUC",
        "numerical_features": [],
        "simulation": {
            "synthetic": True,
            "generator": GENERATOR,
            "seed": seed,
            "taste": {"file": truth["taste"], "tokens": users_file,
                      "values": "+1 liked, 0 neutral, -1 disliked; columns are categories c0, c1, ..."},
            "accidental": {"file": truth["accidental"], "rows": rows,
                           "meaning": "a click on an item of a disliked category"},
            "click_probability": {"file": truth["click_probability"], "rows": rows},
            "item_quality": {"file": truth["item_quality"], "rows": "items i0, i1, ..."},
        },
    }
    return files, config


def readme_lines(dataset: str, seed: int, s: Settings) -> List[str]:
    return [
        f"# {dataset}: SYNTHETIC ad impressions with clicks, likes and dislikes",
        "",
        "Every user, item and event in this folder was drawn by",
        f"`{GENERATOR}` (see its module docstring for the generative model), seed {seed}:",
        f"{s.n_users} users, {s.n_items} items in {s.n_categories} categories, "
        f"{s.min_impressions} to {s.max_impressions} impressions per user. No real data.",
        "",
        "Regenerate byte-identically with:",
        "",
        f"    python -m {GENERATOR} --out dataset/{dataset} --seed {seed} --users {s.n_users} "
        f"--items {s.n_items} --overwrite",
        "",
        "Each `.inter` row is an impression (a sample); `label` is the click. Planted truth, named",
        f"under `simulation` in `{dataset}.yaml`:",
        "",
        f"- `{dataset}.truth_taste.npy`: each user's {s.n_liked} liked and {s.n_disliked} disliked categories;",
        f"- `{dataset}.truth_accidental.npy`: which clicks were accidental (every click on an item of a",
        f"  disliked category, clicked with probability {s.accidental_click} whatever the item); "
        f"{s.dislike_accidental:.0%} of them carry",
        "  a dislike too (same row);",
        f"- `{dataset}.truth_click_probability.npy`, `{dataset}.truth_item_quality.npy`.",
        "",
        "Likes fall only on liked (and rarely neutral) categories and dislikes only on disliked ones,",
        "while the click history mixes liked categories with accidental clicks: the like / dislike",
        "history reveals taste better than the click history, which is what DUMN's purification",
        "and explicit-feedback histories are meant to use (`tests/test_simulate_feedback.py` measures it).",
        "",
        f"Impressions come in pages of 1 to {s.max_page} items shown at the same second; a sample's",
        "histories hold only events strictly before its second. The yaml follows the DUMN data",
        f"contract (`docs/feedback_data.md`), with history_length {HISTORY_LENGTH} and each user's last 10% of",
        "rows in time as test (`order: TO`).",
    ]


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {GENERATOR}", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="output folder, dataset/<name>")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--users", type=int, default=Settings.n_users)
    parser.add_argument("--items", type=int, default=Settings.n_items)
    parser.add_argument("--name", help="dataset name (default: the --out folder's name)")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier output")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    settings = Settings(n_users=args.users, n_items=args.items)
    try:
        simulate(args.out, seed=args.seed, settings=settings, name=args.name, overwrite=args.overwrite,
                 quiet=args.quiet)
    except ConversionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
