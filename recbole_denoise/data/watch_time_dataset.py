"""recbole_denoise.data.watch_time_dataset
##########################################
``WatchTimeDataset``: interactions with play time and duration, the labels derived
from them, optional clip-level video features, and the sparse graphs of the two
micro-video papers:

- FRAME (Shang et al., SIGIR 2023): user-clip graphs of positive (watched) and
  negative (skipped-at) clips, eq. (2)-(4);
- the skip-behaviour dual-level graphs (AAAI 2025, authors' code DPSkipNet):
  user-video graphs of highly-positive and of less-positive interactions.

Every label rule is in :mod:`recbole_denoise.data.watch_time`; this class only applies
them to RecBole's interaction table.
"""

import os

import numpy as np
import pandas as pd
import torch
from recbole.utils import FeatureSource, FeatureType, set_color

from recbole_denoise.data import watch_time
from recbole_denoise.data.dataset import MultimodalDataset
from recbole_denoise.model.layers import BipartiteGraph

PLAY_FIELD = "play_time"
DURATION_FIELD = "duration"
RATIO_FIELD = "watch_ratio"
SKIP_LEVEL_FIELD = "skip_level"
FULL_WATCH_FIELD = "full_watch"
POSITIVE_CLIPS_FIELD = "positive_clips"
DERIVED_FIELDS = (RATIO_FIELD, SKIP_LEVEL_FIELD, FULL_WATCH_FIELD, POSITIVE_CLIPS_FIELD)

# Defaults of the config keys (also in properties/watch_time.yaml), used when a key is absent.
DEFAULTS = {
    "n_clips": 4,
    "quick_skip_seconds": watch_time.QUICK_SKIP_SECONDS,
    "full_watch_ratio": watch_time.FULL_WATCH_RATIO,
    "max_play_ratio": watch_time.MAX_PLAY_RATIO,
    "clip_features": None,
}


class WatchTimeDataset(MultimodalDataset):
    """``MultimodalDataset`` of micro-video views with watch-time labels and clip features.

    Interactions must carry ``play_time:float`` and ``duration:float`` (seconds), and may
    carry ``timestamp:float``. At load, before RecBole's own filtering:

    1. rows are cleaned with :func:`watch_time.clean_watch_rows` (missing / impossible
       values, play time beyond ``max_play_ratio`` x duration, repeated views of a
       video: the longest is kept); the counts per reason are logged;
    2. float fields are derived: ``watch_ratio`` (play / duration, not clipped),
       ``skip_level`` (0 quick skip, 1 delayed skip, 2 full watch, DPSkipNet) and
       ``full_watch`` (1 if ``watch_ratio >= full_watch_ratio``: the label both papers
       evaluate) and ``positive_clips`` (FRAME's positive clip count of the view,
       :func:`watch_time.watched_clip_count` with ``n_clips`` and ``full_watch_ratio``,
       computed here once in float64, so that the clip graphs and FRAME's loss read the
       same whole number; ``watch_ratio`` itself is float32 after loading). They, and ``play_time``, are ground truth: hidden from the feature
       fields that models embed, and kept unscaled under ``normalize_all``.

    Clip features (``clip_features: {file, tokens}``, beside the atomic files): ``file``
    is a float array ``(n_videos, N, d)`` with ``N == n_clips`` or a multiple of it (then
    each run of ``N / n_clips`` consecutive clips is averaged into one); ``tokens`` names
    the item of every row. Rows are aligned by item token, like ``item_modalities``;
    items without a row get ``missing_feature_fill`` (``mean``: the mean of the known
    rows at each clip position, or ``zero``) and the count is logged. Without
    ``clip_features`` (KuaiRand) ``clip_features`` is ``None`` and models use learnable
    clip embeddings. After loading: ``clip_features`` is a FloatTensor
    ``[item_num, n_clips, d]`` or ``None``.

    Graphs are built from this object's own interactions, so a model that calls them
    on ``train_data.dataset`` gets training edges only. Clip node of clip ``c`` of item
    ``i``: ``i * n_clips + c``. All graphs are sparse :class:`BipartiteGraph` objects.
    """

    def __init__(self, config):
        settings = {key: config[key] if key in config else default for key, default in DEFAULTS.items()}
        self.n_clips = int(settings["n_clips"])  # N_c, clips per video
        self.quick_skip_seconds = float(settings["quick_skip_seconds"])  # DPSkipNet quick-skip threshold
        self.full_watch_ratio = float(settings["full_watch_ratio"])  # ratio of a full watch
        max_ratio = settings["max_play_ratio"]
        self.max_play_ratio = None if max_ratio is None else float(max_ratio)  # None: no cap
        self.clip_spec = settings["clip_features"]
        if self.n_clips < 1:
            raise ValueError(f"n_clips must be a positive integer, got {settings['n_clips']!r}")
        self.clip_features = None
        super().__init__(config)

    # ------------------------------------------------------------------ loading

    def _data_processing(self):
        self._require_watch_fields()
        self._clean_watch_rows()
        self._derive_watch_labels()
        super()._data_processing()
        self._load_clip_features()

    def _require_watch_fields(self):
        missing = [f for f in (PLAY_FIELD, DURATION_FIELD) if self.inter_feat is None or f not in self.inter_feat]
        if missing:
            loaded = [] if self.inter_feat is None else list(self.inter_feat.columns)
            raise ValueError(
                f"WatchTimeDataset needs the float fields {missing} (seconds) in the interactions; "
                f"loaded: {loaded}. Add them to load_col (a watch-time converter writes them)"
            )

    def _clean_watch_rows(self):
        frame = self.inter_feat.reset_index(drop=True)
        time_field = self.time_field if self.time_field in frame else None
        kept, dropped = watch_time.clean_watch_rows(
            frame, user_field=self.uid_field, item_field=self.iid_field, play_field=PLAY_FIELD,
            duration_field=DURATION_FIELD, time_field=time_field, max_play_ratio=self.max_play_ratio,
        )
        if self.benchmark_filename_list is not None:
            # pre-split files: keep each part's row count in step with the rows kept
            parts = np.repeat(np.arange(len(self.file_size_list)), self.file_size_list)
            counts = np.bincount(parts[kept.index.to_numpy()], minlength=len(self.file_size_list))
            self.file_size_list = [int(c) for c in counts]
        self.inter_feat = kept.reset_index(drop=True)
        self.watch_rows_dropped = dropped
        detail = ", ".join(f"{reason}: {count}" for reason, count in dropped.items()) or "none"
        self.logger.info(
            set_color("watch-time cleaning", "blue")
            + f": kept {len(kept)} of {len(frame)} interactions; dropped {detail}"
        )

    def _derive_watch_labels(self):
        play = self.inter_feat[PLAY_FIELD].to_numpy(dtype=np.float64)
        ratio = watch_time.watch_ratio(play, self.inter_feat[DURATION_FIELD].to_numpy(dtype=np.float64))
        values = {
            RATIO_FIELD: ratio,
            SKIP_LEVEL_FIELD: watch_time.skip_level(play, ratio, self.quick_skip_seconds,
                                                    self.full_watch_ratio).astype(np.float64),
            FULL_WATCH_FIELD: watch_time.full_watch(ratio, self.full_watch_ratio),
            POSITIVE_CLIPS_FIELD: watch_time.watched_clip_count(ratio, self.n_clips,
                                                                self.full_watch_ratio).astype(np.float64),
        }
        for field, column in values.items():
            self.inter_feat[field] = column
            self.field2type[field] = FeatureType.FLOAT
            self.field2source[field] = FeatureSource.INTERACTION
            self.field2seqlen[field] = 1
        levels = np.bincount(values[SKIP_LEVEL_FIELD].astype(np.int64), minlength=3)
        self.logger.info(
            set_color("watch-time labels", "blue")
            + f": quick skips (< {self.quick_skip_seconds:g} s) {levels[0]}, delayed skips {levels[1]}, "
            f"full watches (ratio >= {self.full_watch_ratio:g}) {levels[2]}"
        )

    def _normalize(self):
        # labels and times are ground truth, not features: keep them unscaled
        kept = {f: self.inter_feat[f].copy() for f in (PLAY_FIELD, DURATION_FIELD) + DERIVED_FIELDS
                if f in self.inter_feat}
        super()._normalize()
        for field, column in kept.items():
            self.inter_feat[field] = column

    def ground_truth_fields(self):
        """The clean flag's fields plus play time and every label derived from it."""
        return super().ground_truth_fields() | {PLAY_FIELD, *DERIVED_FIELDS}

    # ------------------------------------------------------------------ clip features

    def _clip_path(self, key):
        if not isinstance(self.clip_spec, dict) or key not in self.clip_spec:
            raise ValueError(f"clip_features: give {{file: <name>.clip.npy, tokens: <name>.clip.tokens}}, "
                             f"got {self.clip_spec!r}")
        path = os.path.join(self.dataset_path, self.clip_spec[key])
        if not os.path.isfile(path):
            raise FileNotFoundError(f"clip_features.{key}: no file {path}")
        return path

    def _load_clip_features(self):
        if self.clip_spec is None:
            return
        clips = np.load(self._clip_path("file"), allow_pickle=False)
        if clips.ndim != 3:
            raise ValueError(f"clip_features: expected an array (n_videos, N, d), got shape {clips.shape}")
        clips = pool_clips(clips, self.n_clips)
        with open(self._clip_path("tokens"), encoding="utf-8") as handle:
            tokens = [line.rstrip("\n") for line in handle]
        if len(tokens) != len(clips):
            raise ValueError(f"clip_features: {self.clip_spec['tokens']} lists {len(tokens)} item tokens but "
                             f"{self.clip_spec['file']} has {len(clips)} rows; expected one token per row")
        token_to_id = self.field2token_id[self.iid_field]
        ids = np.array([token_to_id.get(token, -1) for token in tokens], dtype=np.int64)
        n_rows, n_clips, dim = clips.shape
        # the modality alignment (by token, with the missing-row fill) on clips flattened per item
        flat = self._align_dense("clip_features", clips.reshape(n_rows, n_clips * dim), ids)
        self.clip_features = flat.view(self.item_num, n_clips, dim)

    # ------------------------------------------------------------------ durations

    def build(self):
        """RecBole's split, after recording every video's duration from all rows (a
        video's duration is content known before anyone watches it, so the training
        split knows the duration of a video viewed only in validation or test)."""
        self._recorded_video_durations = self._median_duration_per_video()
        return super().build()

    def _median_duration_per_video(self):
        items = self._column(self.iid_field).astype(np.int64)
        # at RecBole's float-field precision (float32 after the split), so that a video's
        # duration and the bucket boundaries computed from the split's rows compare exactly
        durations = self._column(DURATION_FIELD).astype(np.float32).astype(np.float64)
        per_video = pd.Series(durations).groupby(items).median()
        table = np.full(self.item_num, np.nan)
        table[per_video.index.to_numpy()] = per_video.to_numpy()
        return torch.from_numpy(table)

    def video_durations(self):
        """DoubleTensor ``[item_num]``: each video's duration in seconds, the median
        over its views (views of one video agree in KuaiRand and the simulator); NaN
        for the padding item and videos without a view. Taken from all rows before the
        split (see :meth:`build`), else from this object's own rows."""
        recorded = getattr(self, "_recorded_video_durations", None)
        return (recorded if recorded is not None else self._median_duration_per_video()).clone()

    def duration_bucket_boundaries(self, n_buckets):
        """Equal-frequency boundaries of the durations of this object's own rows, one per
        view (on ``train_data.dataset``: the training views only), by
        :func:`~recbole_denoise.data.watch_time.duration_bucket_edges`, the rule the
        duration metrics use too."""
        durations = self._column(DURATION_FIELD).astype(np.float64)
        return torch.from_numpy(watch_time.duration_bucket_edges(durations, n_buckets))

    def duration_buckets(self, n_buckets):
        """LongTensor ``[item_num]``: each video's duration bucket, ``1 + `` the number of
        :meth:`duration_bucket_boundaries` at or below its duration (at most
        ``n_buckets``; durations beyond the training range join the first or last
        bucket), for every video, also those absent from this split; 0 for the padding
        item and videos without a duration."""
        boundaries = self.duration_bucket_boundaries(n_buckets)
        durations = self.video_durations()
        buckets = torch.searchsorted(boundaries, durations.nan_to_num(0.0), right=True) + 1
        return torch.where(torch.isnan(durations), torch.zeros_like(buckets), buckets)

    # ------------------------------------------------------------------ graphs

    @property
    def n_clip_nodes(self):
        """Number of clip nodes, ``item_num * n_clips`` (padding item 0 included)."""
        return self.item_num * self.n_clips

    def _column(self, field):
        values = self.inter_feat[field]
        return values.numpy() if isinstance(values, torch.Tensor) else np.asarray(values)

    def _users_items(self):
        return self._column(self.uid_field).astype(np.int64), self._column(self.iid_field).astype(np.int64)

    def positive_clip_counts(self):
        """``positive_clips`` of every row as int64 (FRAME's clip labels, see
        :func:`watch_time.clip_labels_of`)."""
        return self._column(POSITIVE_CLIPS_FIELD).astype(np.int64)

    def positive_clip_graph(self):
        """Users x clips, FRAME's R^p (eq. 4): user u -- clip c of video v for every clip
        watched before the skip, ``c < positive_clips`` (all clips of a full watch)."""
        users, items = self._users_items()
        counts = self.positive_clip_counts()
        starts = np.cumsum(counts) - counts
        clip_index = np.arange(int(counts.sum())) - np.repeat(starts, counts)
        clips = np.repeat(items, counts) * self.n_clips + clip_index
        return self._clip_graph(np.repeat(users, counts), clips)

    def negative_clip_graph(self):
        """Users x clips, FRAME's R^n (eq. 3-4): user u -- the clip during which she
        skipped video v, index ``positive_clips``, for every view that is not a full
        watch (``watch_ratio < full_watch_ratio``)."""
        users, items = self._users_items()
        skipped = watch_time.skip_clip_of(self.positive_clip_counts(), self.n_clips)
        has_skip = skipped >= 0
        return self._clip_graph(users[has_skip], items[has_skip] * self.n_clips + skipped[has_skip])

    def high_positive_graph(self):
        """Users x videos, DPSkipNet's highly-positive graph: fully watched views."""
        return self._level_graph(watch_time.HIGHLY_POSITIVE)

    def less_positive_graph(self):
        """Users x videos, DPSkipNet's less-positive graph: skips after ``quick_skip_seconds``."""
        return self._level_graph(watch_time.LESS_POSITIVE)

    def quick_skip_graph(self):
        """Users x videos, DPSkipNet's negatives: skips before ``quick_skip_seconds`` (used
        in its ranking loss, not propagated)."""
        return self._level_graph(watch_time.NEGATIVE)

    def all_interaction_graph(self):
        """Users x videos with every interaction (the "total interaction" ablation)."""
        users, items = self._users_items()
        return self._item_graph(users, items)

    def _level_graph(self, level):
        users, items = self._users_items()
        chosen = self._column(SKIP_LEVEL_FIELD).astype(np.int64) == level
        return self._item_graph(users[chosen], items[chosen])

    def _item_graph(self, users, items):
        return BipartiteGraph(torch.from_numpy(users), torch.from_numpy(items), self.user_num, self.item_num)

    def _clip_graph(self, users, clips):
        return BipartiteGraph(torch.from_numpy(users), torch.from_numpy(np.asarray(clips, dtype=np.int64)),
                              self.user_num, self.n_clip_nodes)


def pool_clips(clips: np.ndarray, n_clips: int) -> np.ndarray:
    """``(rows, N, d)`` clip features as ``(rows, n_clips, d)``: unchanged when
    ``N == n_clips``; when ``N`` is a multiple of ``n_clips``, clip ``c`` is the mean of
    the ``N / n_clips`` consecutive clips from ``c * N / n_clips`` on, a coarser cut of the
    same video (8 clips into 4: clip 0 = mean of clips 0 and 1). Other ``N`` are an error."""
    rows, found, dim = clips.shape
    if found == n_clips:
        return clips.astype(np.float32, copy=False)
    if found % n_clips != 0:
        raise ValueError(f"clip_features: the file has {found} clips per video, which is neither n_clips = "
                         f"{n_clips} nor a multiple of it")
    group = found // n_clips
    return clips.reshape(rows, n_clips, group, dim).mean(axis=2).astype(np.float32)
