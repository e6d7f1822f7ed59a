"""Watch-time labels of micro-video recommendation: the one place they are derived.

Every rule that turns (play time, duration) into a label lives here, as small pure
functions, so that converters, the dataset class, models and evaluators agree:

- the watch ratio ``r = play_time / duration`` of an interaction;
- FRAME's clip labels (Shang et al., "Learning Fine-grained User Interests for
  Micro-video Recommendation", SIGIR 2023, Section 3.2.1 and 3.4): a video is cut into
  ``N_c`` equal clips; the clips watched before the skip are positive, the clip during
  which the skip happened is negative (eq. 3), the clips after it carry no label;
- FRAME's position weight of a positive clip in the clip-level BCE, eq. (14):
  ``eps_i = i / N_c`` for the i-th clip (1-based); the authors' code uses one weight
  per view instead (``clip_loss_weights(..., scheme="view")``);
- the three-level skip label of the AAAI 2025 skip-behaviour paper ("Exploiting
  Fine-Grained Skip Behaviors for Micro-Video Recommendation", authors' code
  DPSkipNet, Section "Dual-level positive graph" and Fig. 2): negative = quick skip,
  less-positive = delayed skip, highly-positive = fully watched;
- the full-watch label that both papers evaluate (FRAME eq. 13 "the probability that
  the user u might finish watching the video"; DPSkipNet: label 1 = 100% viewed);
- cleaning of logged rows (missing / impossible values, repeated views).

FRAME is not consistent about positive clips: eq. (2) builds the positive clip set from
fully watched videos only, while Section 3.4 (and the authors' code, which adds the
first ``int(r / 0.25)`` clips of every video as positive graph edges) labels every
clip watched before a skip as positive. We follow Section 3.4 and the code: positive
clips are the first ``floor(r * N_c)`` clips of a skipped view and all ``N_c`` of a full
watch. The authors' code adds the negative clip only when at least one clip was watched
(a loop artefact); we add it for every skipped video, as eq. (3) says. "Full watch" and
"skipped" use the same threshold as the evaluation label, ``full_watch_ratio``
(:func:`full_watch`), so a view the evaluation calls unfinished always has a negative
clip and a finished one never has (``watched_clip_count``).

Inputs are NumPy arrays (pandas Series are read as arrays) or torch tensors; a torch
input gives a torch result, anything else a NumPy result. Times are in seconds.
"""

from typing import Dict, Optional, Tuple

import numpy as np
import pandas as pd
import torch

QUICK_SKIP_SECONDS = 5.0  # DPSkipNet: most skips happen within the first five seconds
FULL_WATCH_RATIO = 1.0  # both papers: a view is "full" when play time reaches the duration
# Rows whose play time exceeds this many durations are dropped. Replays are real: 3.4%
# of the KuaiRand-1K random-log sample (19,559 rows) play beyond the duration, and they
# are nearly all of its full watches, so the cap must be far above 1; 0.15% exceed 3x
# and 2 rows (0.01%) exceed 10x (an 11 s video played for 205 s), which looks like a
# feed left looping rather than a signal.
MAX_PLAY_RATIO = 10.0

# three-level skip label (DPSkipNet)
NEGATIVE, LESS_POSITIVE, HIGHLY_POSITIVE = 0, 1, 2
# clip labels (FRAME)
UNLABELED_CLIP, NEGATIVE_CLIP, POSITIVE_CLIP = -1, 0, 1

# A ratio that is k / N_c up to floating-point rounding counts as k watched clips.
_CLIP_TOLERANCE = 1e-9

DROP_MISSING_DURATION = "missing duration"
DROP_BAD_DURATION = "zero or negative duration"
DROP_MISSING_PLAY = "missing play time"
DROP_NEGATIVE_PLAY = "negative play time"
DROP_LONG_PLAY = "play time beyond {ratio:g} x duration"
DROP_REPEATED_VIEW = "repeated view of the same (user, video) (kept the longest)"


def _xp(values):
    """torch for tensors, NumPy for everything else."""
    return torch if isinstance(values, torch.Tensor) else np


def _as_array(values):
    if isinstance(values, torch.Tensor):
        return values
    return np.asarray(values, dtype=np.float64)


def _as_counts(counts):
    """Clip counts as integers (a float field of whole numbers is exact)."""
    if isinstance(counts, torch.Tensor):
        return counts.long()
    return np.asarray(counts).astype(np.int64)


# --------------------------------------------------------------------------- ratio and full watch


def watch_ratio(play_time, duration):
    """``r = play_time / duration`` (FRAME Section 2: "the ratio of the user's watching
    time to the duration time of the video"). Not clipped: replays give ``r > 1``."""
    return _as_array(play_time) / _as_array(duration)


def full_watch(ratio, full_ratio: float = FULL_WATCH_RATIO):
    """1.0 where ``r >= full_ratio``, else 0.0: the evaluation label of both papers."""
    reached = _as_array(ratio) >= full_ratio
    return reached.to(torch.float32) if isinstance(reached, torch.Tensor) else reached.astype(np.float64)


# --------------------------------------------------------------------------- FRAME clip labels


def watched_clip_count(ratio, n_clips: int, full_ratio: float = FULL_WATCH_RATIO):
    """Number of positive clips of every view, the one rule behind FRAME's clip labels
    (Section 3.4: the clips watched before the skip; eq. 2-3):

    - ``N_c`` for a full watch, ``r >= full_ratio`` (the evaluation label, :func:`full_watch`);
    - otherwise ``min(floor(r * N_c), N_c - 1)``: the clips before the one of the skip.
      Only ``full_ratio > 1`` reaches the cap: a view that played to the end but not to
      ``full_ratio`` counts as skipped in the last clip.

    So a view has a negative clip (index = its count, :func:`skip_clip_of`) exactly when
    it is not a full watch. Computed in float64 (a torch input is promoted), with a
    tolerance so that a ratio of exactly ``k / N_c`` counts ``k`` clips; a float32 ratio
    has lost that already (0.7 as float32 times 10 is 6.99999988), which is why the
    dataset computes the count once from the float64 play time and duration and carries
    it as the ``positive_clips`` field."""
    _check_clips(n_clips)
    ratio = _as_array(ratio)
    xp = _xp(ratio)
    if xp is torch:
        ratio = ratio.to(torch.float64)
    skipped = xp.clip(xp.floor(xp.clip(ratio, 0.0, None) * n_clips + _CLIP_TOLERANCE), 0, n_clips - 1)
    counts = xp.where(ratio >= full_ratio, n_clips, skipped)
    return counts.long() if xp is torch else counts.astype(np.int64)


def skip_clip_of(counts, n_clips: int):
    """0-based index of the clip of the skip, FRAME eq. (3), given the positive clip
    counts of :func:`watched_clip_count`: the clip right after the watched ones, or -1
    for a full watch (``count == N_c``)."""
    counts = _as_counts(counts)
    return _xp(counts).where(counts < n_clips, counts, -1)


def skip_clip_index(ratio, n_clips: int, full_ratio: float = FULL_WATCH_RATIO):
    """:func:`skip_clip_of` the counts of ``ratio``: ``min(floor(r N_c), N_c - 1)`` for a
    view with ``r < full_ratio``, -1 for a full watch (FRAME eq. 3, the negative clip)."""
    return skip_clip_of(watched_clip_count(ratio, n_clips, full_ratio), n_clips)


def clip_labels_of(counts, n_clips: int):
    """Clip labels from the positive clip counts of :func:`watched_clip_count`:
    ``POSITIVE_CLIP`` (1) for the first ``count`` clips, ``NEGATIVE_CLIP`` (0) for the clip
    of the skip (index ``count``, when ``count < N_c``), ``UNLABELED_CLIP`` (-1) for the
    unseen clips after it (FRAME Section 3.4, eq. 14). Shape ``[n, n_clips]``, int8.

    The dataset's graphs (eq. 2-4) and FRAME's loss (eq. 14-15) both read these labels
    from the dataset's ``positive_clips`` field, so they cannot disagree."""
    _check_clips(n_clips)
    counts = _as_counts(counts)
    xp = _xp(counts)
    positions = (torch.arange(n_clips, device=counts.device) if xp is torch else np.arange(n_clips))[None, :]
    counts = counts[:, None]
    labels = xp.where(positions < counts, POSITIVE_CLIP,
                      xp.where(positions == counts, NEGATIVE_CLIP, UNLABELED_CLIP))
    return labels.to(torch.int8) if xp is torch else labels.astype(np.int8)


def clip_labels(ratio, n_clips: int, full_ratio: float = FULL_WATCH_RATIO):
    """:func:`clip_labels_of` the counts of ``ratio`` (:func:`watched_clip_count`)."""
    return clip_labels_of(watched_clip_count(ratio, n_clips, full_ratio), n_clips)


def clip_position_weights(n_clips: int) -> np.ndarray:
    """FRAME eq. (14): the penalty coefficient of a positive i-th clip (1-based) is
    ``eps_i = i / N_c`` (0.25, 0.5, 0.75, 1 for ``N_c = 4``)."""
    _check_clips(n_clips)
    return np.arange(1, n_clips + 1, dtype=np.float64) / n_clips


# the weighting schemes of clip_loss_weights: the paper's and the authors' code's
CLIP_WEIGHT_SCHEMES = ("position", "view")


def clip_loss_weights(counts, n_clips: int, scheme: str = "position"):
    """Weight of every (interaction, clip) term of FRAME's clip BCE, eq. (14), given the
    positive clip counts of :func:`watched_clip_count`: 1 for the negative clip, 0 for
    unlabeled clips, and for a positive clip

    - ``scheme="position"`` (the paper): ``eps_i = i / N_c`` for the i-th clip (1-based);
    - ``scheme="view"`` (the authors' code, ``label_weight``): one weight per view,
      ``count / N_c``, on all its positive clips.

    Shape ``[n, n_clips]``, float."""
    counts = _as_counts(counts)
    labels = clip_labels_of(counts, n_clips)
    xp = _xp(labels)
    if scheme == "position":
        weights = clip_position_weights(n_clips)[None, :]
    elif scheme == "view":
        weights = counts[:, None] / n_clips
    else:
        raise ValueError(f"scheme must be 'position' (paper) or 'view' (authors' code), got {scheme!r}")
    if xp is torch:
        weights = torch.as_tensor(weights, dtype=torch.float32, device=labels.device)
        zero = torch.zeros((), dtype=torch.float32, device=labels.device)
        one = torch.ones((), dtype=torch.float32, device=labels.device)
    else:
        zero, one = 0.0, 1.0
    positive = xp.where(labels == POSITIVE_CLIP, weights, zero)
    return xp.where(labels == NEGATIVE_CLIP, one, positive)


# --------------------------------------------------------------------------- DPSkipNet three levels


def skip_level(play_time, ratio, quick_skip_seconds: float = QUICK_SKIP_SECONDS,
               full_ratio: float = FULL_WATCH_RATIO):
    """DPSkipNet's three-level label of every interaction (Fig. 2, Section "Dual-level
    positive graph construction"):

    - ``HIGHLY_POSITIVE`` (2): ``r >= full_ratio`` (watched to the end);
    - ``LESS_POSITIVE`` (1): ``r < full_ratio`` and ``play_time >= quick_skip_seconds``
      (a delayed skip);
    - ``NEGATIVE`` (0): ``r < full_ratio`` and ``play_time < quick_skip_seconds`` (a
      quick skip).

    A video shorter than ``quick_skip_seconds`` that is skipped is therefore negative.
    """
    play_time, ratio = _as_array(play_time), _as_array(ratio)
    xp = _xp(ratio)
    levels = xp.where(ratio >= full_ratio, HIGHLY_POSITIVE,
                      xp.where(play_time >= quick_skip_seconds, LESS_POSITIVE, NEGATIVE))
    return levels.to(torch.int8) if xp is torch else levels.astype(np.int8)


# --------------------------------------------------------------------------- duration buckets


def duration_bucket_edges(durations, n_buckets: int, key: str = "duration_buckets") -> np.ndarray:
    """Inner boundaries of equal-frequency duration buckets over ``durations`` (one
    value per training view), as D2Q (KDD 2022) and DVR (MM 2022) bucket durations: the
    quantiles ``k / n_buckets``, ``k = 1..n_buckets-1``, taken as observed durations
    (numpy's ``lower``), above the shortest and distinct, so no bucket is empty and tied
    durations give fewer than ``n_buckets`` buckets. Bucket ``b`` holds
    ``edges[b-1] <= d < edges[b]`` (``np.searchsorted(edges, d, side="right")``).
    ``key`` names the setting in errors. The one rule of the duration-aware models and
    the duration metrics."""
    if isinstance(n_buckets, bool) or not isinstance(n_buckets, (int, np.integer)) or n_buckets < 1:
        raise ValueError(f"{key}: expected a positive integer number of buckets, got {n_buckets!r}")
    durations = np.asarray(durations, dtype=np.float64)
    if len(durations) == 0:
        raise ValueError(f"{key}: no training views to compute duration buckets from")
    quantiles = np.quantile(durations, np.arange(1, n_buckets) / n_buckets, method="lower")
    return np.unique(quantiles[quantiles > durations.min()])


# --------------------------------------------------------------------------- cleaning


def clean_watch_rows(
    frame: pd.DataFrame,
    *,
    user_field: str = "user_id",
    item_field: str = "item_id",
    play_field: str = "play_time",
    duration_field: str = "duration",
    time_field: Optional[str] = None,
    max_play_ratio: Optional[float] = MAX_PLAY_RATIO,
) -> Tuple[pd.DataFrame, Dict[str, int]]:
    """Drop rows that cannot carry a watch-time label; return ``(kept rows, dropped)``.

    ``dropped`` maps a reason to a row count; every row is counted under the first
    rule it breaks, in this order:

    1. missing (or non-finite) duration; 2. zero or negative duration;
    3. missing (or non-finite) play time; 4. negative play time;
    5. play time beyond ``max_play_ratio`` x duration (``None``: no cap; default
       :data:`MAX_PLAY_RATIO`, see there why);
    6. repeated views of the same (user, video): the longest view is kept (the one
       that tells most about the user's interest), ties broken by the earliest
       ``time_field`` value, then by row order. (DPSkipNet instead calls every
       repeated video highly positive; the longest view is usually that anyway.)

    Kept rows stay in their original order; the index is kept.
    """
    play = pd.to_numeric(frame[play_field], errors="coerce").to_numpy(dtype=np.float64)
    duration = pd.to_numeric(frame[duration_field], errors="coerce").to_numpy(dtype=np.float64)
    dropped: Dict[str, int] = {}
    keep = np.ones(len(frame), dtype=bool)

    def rule(reason: str, bad: np.ndarray) -> None:
        newly = keep & bad
        if newly.any():
            dropped[reason] = dropped.get(reason, 0) + int(newly.sum())
        keep[newly] = False

    with np.errstate(invalid="ignore"):
        rule(DROP_MISSING_DURATION, ~np.isfinite(duration))
        rule(DROP_BAD_DURATION, duration <= 0)
        rule(DROP_MISSING_PLAY, ~np.isfinite(play))
        rule(DROP_NEGATIVE_PLAY, play < 0)
        if max_play_ratio is not None:
            rule(DROP_LONG_PLAY.format(ratio=max_play_ratio), play > max_play_ratio * duration)
    kept = frame[keep]
    longest = keep_longest_view(kept, user_field=user_field, item_field=item_field, play_field=play_field,
                                time_field=time_field)
    if len(longest) < len(kept):
        dropped[DROP_REPEATED_VIEW] = len(kept) - len(longest)
    return longest, dropped


def keep_longest_view(frame: pd.DataFrame, *, user_field: str = "user_id", item_field: str = "item_id",
                      play_field: str = "play_time", time_field: Optional[str] = None) -> pd.DataFrame:
    """One row per (user, video): the longest play time; ties: earliest ``time_field``,
    then the first row. The kept rows stay in their original order."""
    if len(frame) == 0:
        return frame
    users, items = _group_key(frame[user_field]), _group_key(frame[item_field])
    ties = [np.arange(len(frame))]  # least significant first (np.lexsort sorts by its last key first)
    if time_field is not None and time_field in frame:
        ties.append(pd.to_numeric(frame[time_field], errors="coerce").to_numpy(dtype=np.float64))
    ties.append(-pd.to_numeric(frame[play_field], errors="coerce").to_numpy(dtype=np.float64))
    order = np.lexsort((*ties, items, users))  # NaN sorts last, as it did with sort_values
    users, items = users[order], items[order]
    first = np.ones(len(order), dtype=bool)  # the first row of each (user, item) run: its longest view
    first[1:] = (users[1:] != users[:-1]) | (items[1:] != items[:-1])
    return frame.iloc[np.sort(order[first])]


# --------------------------------------------------------------------------- helpers


def _group_key(ids: pd.Series) -> np.ndarray:
    """Ids to group rows by: a categorical's integer codes (sorting millions of id strings
    is what made converting a large log slow), other columns as codes of their distinct values."""
    if isinstance(ids.dtype, pd.CategoricalDtype):
        return ids.cat.codes.to_numpy()
    return pd.factorize(ids.to_numpy())[0]  # equal ids, equal codes: all that grouping needs


def _check_clips(n_clips: int) -> None:
    if int(n_clips) != n_clips or n_clips < 1:
        raise ValueError(f"n_clips must be a positive integer, got {n_clips!r}")

