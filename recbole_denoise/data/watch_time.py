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
clips are the first ``floor(min(r, 1) * N_c)`` clips. The authors' code adds the
negative clip only when at least one clip was watched (a loop artefact); we add it for
every skipped video, as eq. (3) says.

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


def watched_clip_count(ratio, n_clips: int):
    """Number of positive clips: ``floor(min(r, 1) * N_c)`` (FRAME Section 3.4: the
    clips watched before the skip; all ``N_c`` clips of a fully watched video)."""
    _check_clips(n_clips)
    ratio = _as_array(ratio)
    xp = _xp(ratio)
    counts = xp.floor(xp.clip(ratio, 0.0, 1.0) * n_clips + _CLIP_TOLERANCE)
    return counts.long() if xp is torch else counts.astype(np.int64)


def skip_clip_index(ratio, n_clips: int):
    """0-based index of the clip during which the user skipped, ``floor(r * N_c)``, for
    ``r < 1``; -1 for a fully watched video (FRAME eq. 3, the negative clip)."""
    ratio = _as_array(ratio)
    counts = watched_clip_count(ratio, n_clips)
    skipped = (ratio < 1.0) & (counts < n_clips)
    return _xp(ratio).where(skipped, counts, -1)


def clip_labels(ratio, n_clips: int):
    """Per interaction and clip: ``POSITIVE_CLIP`` (1) for the watched clips,
    ``NEGATIVE_CLIP`` (0) for the clip of the skip, ``UNLABELED_CLIP`` (-1) for the
    unseen clips after it (FRAME Section 3.4). Shape ``[n, n_clips]``."""
    ratio = _as_array(ratio)
    xp = _xp(ratio)
    counts = watched_clip_count(ratio, n_clips)[:, None]
    skipped = skip_clip_index(ratio, n_clips)[:, None]
    positions = xp.arange(n_clips)[None, :]
    if xp is torch:
        positions = positions.to(counts.device)
    labels = xp.where(positions < counts, POSITIVE_CLIP,
                      xp.where(positions == skipped, NEGATIVE_CLIP, UNLABELED_CLIP))
    return labels.to(torch.int8) if xp is torch else labels.astype(np.int8)


def clip_position_weights(n_clips: int) -> np.ndarray:
    """FRAME eq. (14): the penalty coefficient of a positive i-th clip (1-based) is
    ``eps_i = i / N_c`` (0.25, 0.5, 0.75, 1 for ``N_c = 4``)."""
    _check_clips(n_clips)
    return np.arange(1, n_clips + 1, dtype=np.float64) / n_clips


def clip_loss_weights(ratio, n_clips: int, scheme: str = "position"):
    """Weight of every (interaction, clip) term of FRAME's clip BCE, eq. (14): 1 for the
    negative clip, 0 for unlabeled clips, and for a positive clip

    - ``scheme="position"`` (the paper): ``eps_i = i / N_c`` for the i-th clip (1-based);
    - ``scheme="view"`` (the authors' code, ``label_weight``): one weight per view,
      ``floor(min(r, 1) * N_c) / N_c``, on all its positive clips.

    Shape ``[n, n_clips]``, float."""
    ratio = _as_array(ratio)
    labels = clip_labels(ratio, n_clips)
    xp = _xp(labels)
    if scheme == "position":
        weights = clip_position_weights(n_clips)[None, :]
    elif scheme == "view":
        weights = watched_clip_count(ratio, n_clips)[:, None] / n_clips
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
    order = pd.DataFrame({
        "user": frame[user_field].to_numpy(),
        "item": frame[item_field].to_numpy(),
        "minus_play": -pd.to_numeric(frame[play_field], errors="coerce").to_numpy(dtype=np.float64),
        "position": np.arange(len(frame)),
    })
    keys = ["user", "item", "minus_play"]
    if time_field is not None and time_field in frame:
        order["time"] = pd.to_numeric(frame[time_field], errors="coerce").to_numpy(dtype=np.float64)
        keys.append("time")
    keys.append("position")
    first = order.sort_values(keys, kind="mergesort").drop_duplicates(["user", "item"], keep="first")
    return frame.iloc[np.sort(first["position"].to_numpy())]


# --------------------------------------------------------------------------- helpers


def _check_clips(n_clips: int) -> None:
    if int(n_clips) != n_clips or n_clips < 1:
        raise ValueError(f"n_clips must be a positive integer, got {n_clips!r}")

