"""Simulated micro-video views with planted clip-level interests and skips (SYNTHETIC data).

Run::

    python -m recbole_denoise.data.simulate_microvideo --out dataset/microvideo-sim \\
        [--seed 0] [--users 500] [--videos 1000] [--overwrite]

Nothing here comes from a real platform: every user, video, feature and view is drawn
from the seeded generative model below, so that a model's clip-level scores can be
checked against the truth that produced the skips (FRAME, Shang et al., SIGIR 2023,
claims its clip scores locate where a user skips, Section 4.5 / Fig. 6; the
skip-behaviour paper, AAAI 2025, claims quick skips are stronger negatives than late
ones). The same seed and sizes give byte-identical files.

Generative model (``N_c = 4`` clips per video, ``K = 8`` topics, features of ``d = 32``):

1. Topics: embedding ``t_k ~ N(0, I_d)``.
2. Videos: duration ``D_v = clip(exp(N(ln 35, 0.6)), 10, 120)`` seconds (rounded to ms);
   a main topic ``m_v`` drawn with Zipf-like weights (some topics are common); clip ``c``
   has topic ``z_vc = m_v`` with probability 0.6, else a uniform topic, so clips of one
   video differ; clip features ``f_vc = t_{z_vc} + 0.7 * N(0, I_d)``. The video-level
   feature is the mean of its clips.
3. Users: topic affinity ``a_uk ~ N(-0.5, 0.8)``, plus 2.0 on two liked topics.
4. Continuation (the planted truth): past clip ``c`` of video ``v`` user ``u`` keeps
   watching with probability ``p_uvc = sigmoid(b_c + s * a_{u, z_vc})``, with
   ``b = (0.3, 1.2, 1.2, 1.2)`` (the opening clip loses most viewers: quick skips) and
   ``s = 1.5``.
5. Exposure: each user sees 12 to 40 distinct videos (uniform; at most half of the
   videos, for tiny catalogues); each pick is, with
   probability 0.5, a video whose main topic she likes, else a video drawn by
   popularity (Zipf weights over videos).
6. Watching: from clip 0, at clip ``c`` she continues with probability ``p_uvc``, or
   skips at a uniform point ``f`` in [0.02, 0.98] of the clip: ``play = D (c + f) / N_c``
   (never within 2% of a clip boundary, so rounding to ms keeps the clip). Through all
   clips it is a full watch, ``play = D``, or with probability 0.1 a replay,
   ``play = D (1 + U(0, 1))``.
7. Time: a user starts at a uniform second of a week; each view starts after the
   previous one ends plus ``1 + Exp(30)`` seconds (whole seconds, increasing).

Output, through the shared atomic writer (``dataset/<name>/``):

- ``<name>.inter``: ``user_id``, ``item_id`` tokens (``u0``..., ``v0``...), ``play_time``,
  ``duration``, ``timestamp`` floats, for ``WatchTimeDataset``;
- ``<name>.clip.npy`` (n_videos, N_c, d) + ``<name>.clip.tokens`` (``clip_features``) and
  the video-level mean as the dense modality ``visual`` (``item_modalities``);
- the planted truth, named in the yaml under ``simulation``:
  ``<name>.truth_affinity.npy`` (n_users, K) float32, rows in the order of
  ``<name>.truth_users.tokens``; ``<name>.truth_clip_topic.npy`` (n_videos, N_c) int64,
  rows in the order of ``<name>.clip.tokens``; ``<name>.truth_topic_embedding.npy``
  (K, d); ``<name>.truth_continue.npy`` (n_views, N_c) float32, row i = the ``p_uvc`` of
  the i-th data line of ``<name>.inter``. ``p`` for any (user, video) pair, seen or not,
  is ``sigmoid(bias[c] + scale * affinity[u, clip_topic[v, c]])`` with ``bias`` and
  ``scale`` in the yaml;
- ``README.md`` saying that the data are synthetic, and the yaml (the papers' protocol,
  ``n_clips``, ``clip_features``, ``item_modalities``, ``simulation``).
"""

import argparse
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np
import pandas as pd

from recbole_denoise.data.convert.features import DenseModality, modality_files
from recbole_denoise.data.convert.watch_csv import watch_protocol, watch_types
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

SOURCE = "simulate-microvideo"


@dataclass(frozen=True)
class Settings:
    """Every constant of the generative model (see the module docstring)."""

    n_users: int = 500
    n_videos: int = 1000
    n_clips: int = 4
    n_topics: int = 8
    dim: int = 32
    min_views: int = 12
    max_views: int = 40
    duration_median: float = 35.0  # seconds
    duration_sigma: float = 0.6  # of log duration
    duration_range: Tuple[float, float] = (10.0, 120.0)
    main_topic_share: float = 0.6  # a clip's topic is the video's main topic with this probability
    feature_noise: float = 0.7
    affinity_mean: float = -0.5
    affinity_std: float = 0.8
    liked_topics: int = 2
    liked_boost: float = 2.0
    bias: Tuple[float, ...] = (0.3, 1.2, 1.2, 1.2)  # b_c, per clip position
    scale: float = 1.5  # s
    liked_exposure: float = 0.5  # share of picks from the user's liked topics
    popularity_exponent: float = 0.8  # Zipf weights over videos and main topics
    skip_margin: float = 0.02  # skips happen in [margin, 1 - margin] of a clip
    replay_prob: float = 0.1
    gap_mean: float = 30.0  # seconds between views, beyond 1 s
    start_time: int = 1_650_000_000  # 2022-04-15 05:20 UTC
    start_spread: int = 7 * 24 * 3600


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def continue_probabilities(affinity: np.ndarray, clip_topic: np.ndarray, users: np.ndarray, videos: np.ndarray,
                           settings: Settings) -> np.ndarray:
    """``p_uvc = sigmoid(b_c + s * a_{u, z_vc})`` for pairs (users[i], videos[i]): shape (n, N_c)."""
    bias = np.asarray(settings.bias, dtype=np.float64)
    return sigmoid(bias[None, :] + settings.scale * affinity[users[:, None], clip_topic[videos]])



def planted_clip_logits(dataset, users, videos) -> np.ndarray:
    """The planted continuation logit ``b_c + s * a_{u, z_vc}`` (n, N_c) of the pairs
    ``(users[i], videos[i])``, given as RecBole internal ids of ``dataset`` (a dataset
    loaded from this simulator's output: its yaml names the truth under ``simulation``).
    Clips past the skip included: the truth holds for every clip, seen or not."""
    spec = dataset.config["simulation"] if "simulation" in dataset.config else None
    if not spec or not spec.get("synthetic"):
        raise ValueError(f"dataset {dataset.dataset_name!r} has no 'simulation' section in its yaml: "
                         "planted truth exists only for data written by simulate_microvideo")
    folder = Path(dataset.dataset_path)

    def rows_of(entry, field, ids):
        tokens = (folder / entry["tokens"]).read_text(encoding="utf-8").splitlines()
        position = {token: row for row, token in enumerate(tokens)}
        return np.array([position[t] for t in dataset.id2token(field, np.asarray(ids))], dtype=np.int64)

    affinity = np.load(folder / spec["affinity"]["file"], allow_pickle=False)
    clip_topic = np.load(folder / spec["clip_topic"]["file"], allow_pickle=False)
    if clip_topic.shape[1] != dataset.n_clips:
        raise ValueError(f"the simulation has {clip_topic.shape[1]} clips per video, the dataset n_clips = "
                         f"{dataset.n_clips}; planted clip truth needs the same cut")
    user_rows = rows_of(spec["affinity"], dataset.uid_field, users)
    video_rows = rows_of(spec["clip_topic"], dataset.iid_field, videos)
    bias = np.asarray(spec["bias"], dtype=np.float64)
    return bias[None, :] + float(spec["scale"]) * affinity[user_rows[:, None], clip_topic[video_rows]]

# --------------------------------------------------------------------------- the generative model


def draw_world(rng: np.random.Generator, s: Settings):
    """Topics, videos (durations, clip topics, clip features) and user affinities."""
    topics = rng.standard_normal((s.n_topics, s.dim))
    low, high = s.duration_range
    durations = np.round(np.clip(np.exp(rng.normal(np.log(s.duration_median), s.duration_sigma, s.n_videos)),
                                 low, high), 3)
    topic_weights = zipf_weights(s.n_topics, s.popularity_exponent)
    main_topic = rng.choice(s.n_topics, size=s.n_videos, p=topic_weights)
    keep_main = rng.random((s.n_videos, s.n_clips)) < s.main_topic_share
    clip_topic = np.where(keep_main, main_topic[:, None], rng.integers(0, s.n_topics, (s.n_videos, s.n_clips)))
    clip_features = topics[clip_topic] + s.feature_noise * rng.standard_normal((s.n_videos, s.n_clips, s.dim))
    affinity = rng.normal(s.affinity_mean, s.affinity_std, (s.n_users, s.n_topics))
    liked = np.argsort(rng.random((s.n_users, s.n_topics)), axis=1)[:, :s.liked_topics]
    np.put_along_axis(affinity, liked, np.take_along_axis(affinity, liked, axis=1) + s.liked_boost, axis=1)
    return topics, durations, main_topic, clip_topic, clip_features, affinity, liked


def zipf_weights(n: int, exponent: float) -> np.ndarray:
    weights = 1.0 / np.arange(1, n + 1) ** exponent
    return weights / weights.sum()


def draw_exposures(rng: np.random.Generator, s: Settings, main_topic: np.ndarray, liked: np.ndarray) -> List[np.ndarray]:
    """For every user, the distinct videos she sees, in viewing order."""
    popularity = zipf_weights(s.n_videos, s.popularity_exponent)[rng.permutation(s.n_videos)]
    popularity /= popularity.sum()
    by_topic = [np.flatnonzero(main_topic == k) for k in range(s.n_topics)]
    exposures = []
    for user in range(s.n_users):
        # at most half the catalogue, so that drawing distinct videos by rejection stays quick
        wanted = min(int(rng.integers(s.min_views, s.max_views + 1)), max(1, s.n_videos // 2))
        own = np.concatenate([by_topic[k] for k in liked[user]])
        seen: List[int] = []
        chosen = set()
        while len(seen) < wanted:
            from_liked = len(own) > 0 and rng.random() < s.liked_exposure
            video = int(rng.choice(own)) if from_liked else int(rng.choice(s.n_videos, p=popularity))
            if video not in chosen:
                chosen.add(video)
                seen.append(video)
        exposures.append(np.asarray(seen, dtype=np.int64))
    return exposures


def draw_views(rng: np.random.Generator, s: Settings, p_continue: np.ndarray, durations: np.ndarray) -> np.ndarray:
    """Play time of every view from its continuation probabilities (n, N_c) and durations."""
    n = len(p_continue)
    goes_on = rng.random((n, s.n_clips)) < p_continue
    # clip of the skip = first clip not continued past; N_c = watched to the end
    stopped = np.where(goes_on.all(axis=1), s.n_clips, np.argmin(goes_on, axis=1))
    fraction = rng.uniform(s.skip_margin, 1.0 - s.skip_margin, n)
    replay = 1.0 + rng.random(n) * (rng.random(n) < s.replay_prob)
    skipped_play = durations * (stopped + fraction) / s.n_clips
    return np.round(np.where(stopped < s.n_clips, skipped_play, durations * replay), 3)


def draw_timestamps(rng: np.random.Generator, s: Settings, counts: np.ndarray, play: np.ndarray) -> np.ndarray:
    """Whole-second start times, increasing within each user."""
    starts = s.start_time + rng.integers(0, s.start_spread, len(counts))
    gaps = 1 + np.ceil(rng.exponential(s.gap_mean, len(play))) + np.ceil(play)
    times = np.empty(len(play), dtype=np.int64)
    position = 0
    for user, count in enumerate(counts):
        steps = gaps[position:position + count]
        times[position:position + count] = starts[user] + np.concatenate([[0], np.cumsum(steps[:-1])])
        position += count
    return times.astype(np.float64)


# --------------------------------------------------------------------------- writing


def simulate(out, *, seed: int = 0, settings: Optional[Settings] = None, name: Optional[str] = None,
             overwrite: bool = False, quiet: bool = False) -> ConversionSummary:
    """Draw a dataset with ``settings`` from ``seed`` and write it to ``out`` atomically."""
    s = settings or Settings()
    if len(s.bias) != s.n_clips:
        raise ValueError(f"settings.bias needs one value per clip ({s.n_clips}), got {s.bias}")
    dataset = check_dataset_name(Path(out), name)
    ensure_output_free(Path(out), overwrite)
    rng = np.random.default_rng(seed)
    topics, durations, main_topic, clip_topic, clip_features, affinity, liked = draw_world(rng, s)
    exposures = draw_exposures(rng, s, main_topic, liked)
    counts = np.array([len(e) for e in exposures])
    users = np.repeat(np.arange(s.n_users), counts)
    videos = np.concatenate(exposures)
    p_continue = continue_probabilities(affinity, clip_topic, users, videos, s)
    play = draw_views(rng, s, p_continue, durations[videos])
    times = draw_timestamps(rng, s, counts, play)

    user_tokens = [f"u{u}" for u in range(s.n_users)]
    video_tokens = [f"v{v}" for v in range(s.n_videos)]
    views = pd.DataFrame({USER_FIELD: np.asarray(user_tokens)[users], ITEM_FIELD: np.asarray(video_tokens)[videos],
                          "play_time": play, "duration": durations[videos], "timestamp": times})
    summary = ConversionSummary(source=SOURCE, dataset=dataset, raw=f"simulated, seed {seed}", out=str(out),
                                options={"seed": seed, **asdict(s)})
    summary.rows_read = len(views)
    summary.stats["full watches"] = f"{int((play >= durations[videos]).sum())} ({(play >= durations[videos]).mean():.1%})"
    summary.stats["quick skips (< 5 s)"] = int(((play < 5) & (play < durations[videos])).sum())

    extra_files, config = output_files(dataset, s, seed, video_tokens, user_tokens, clip_features, clip_topic,
                                       affinity, topics, p_continue)
    tables = [AtomicTable("inter", views, watch_types(True))]
    return finish_conversion(summary, tables, dataset_config=config, overwrite=overwrite, quiet=quiet,
                             extra_files=extra_files)


def output_files(dataset, s: Settings, seed, video_tokens, user_tokens, clip_features, clip_topic, affinity, topics,
                 p_continue):
    """The extra files (features, truth, README) and the yaml entries naming them."""
    clip_file, clip_tokens = f"{dataset}.clip.npy", f"{dataset}.clip.tokens"
    truth = {name: f"{dataset}.truth_{name}.npy" for name in ("affinity", "clip_topic", "topic_embedding", "continue")}
    users_file = f"{dataset}.truth_users.tokens"
    visual_files, modalities = modality_files(
        dataset, [DenseModality("visual", video_tokens, clip_features.mean(axis=1))])
    files = [
        npy_file(clip_file, clip_features.astype(np.float32)), lines_file(clip_tokens, video_tokens), *visual_files,
        npy_file(truth["affinity"], affinity.astype(np.float32)), lines_file(users_file, user_tokens),
        npy_file(truth["clip_topic"], clip_topic.astype(np.int64)),
        npy_file(truth["topic_embedding"], topics.astype(np.float32)),
        npy_file(truth["continue"], p_continue.astype(np.float32)),
        lines_file("README.md", readme_lines(dataset, seed, s)),
    ]
    config = watch_protocol(True)
    config.update({
        "n_clips": s.n_clips,
        "clip_features": {"file": clip_file, "tokens": clip_tokens},
        "item_modalities": modalities,
        "simulation": {
            "synthetic": True,
            "generator": "recbole_denoise.data.simulate_microvideo",
            "seed": seed,
            "continue_probability": "sigmoid(bias[c] + scale * affinity[u, clip_topic[v, c]])",
            "bias": list(s.bias),
            "scale": s.scale,
            "affinity": {"file": truth["affinity"], "tokens": users_file},
            "clip_topic": {"file": truth["clip_topic"], "tokens": clip_tokens},
            "topic_embedding": truth["topic_embedding"],
            "interaction_continue": {"file": truth["continue"], "rows": f"data lines of {dataset}.inter, in order"},
        },
    })
    return files, config


def readme_lines(dataset: str, seed: int, s: Settings) -> List[str]:
    return [
        f"# {dataset}: SYNTHETIC micro-video views",
        "",
        "Every user, video, clip feature and view in this folder was drawn by",
        "`recbole_denoise.data.simulate_microvideo` (see its module docstring for the generative",
        f"model), seed {seed}: {s.n_users} users, {s.n_videos} videos of {s.n_clips} clips. No real data.",
        "",
        "Regenerate byte-identically with:",
        "",
        f"    python -m recbole_denoise.data.simulate_microvideo --out dataset/{dataset} --seed {seed} "
        f"--users {s.n_users} --videos {s.n_videos} --overwrite",
        "",
        f"The planted truth (`{dataset}.truth_*`) is named under `simulation` in `{dataset}.yaml`:",
        "the probability that a user continues past each clip, from user topic affinities and",
        "clip topics, to check that a model's clip scores find where users skip.",
    ]


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m recbole_denoise.data.simulate_microvideo",
                                     description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="output folder, dataset/<name>")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--users", type=int, default=Settings.n_users)
    parser.add_argument("--videos", type=int, default=Settings.n_videos)
    parser.add_argument("--name", help="dataset name (default: the --out folder's name)")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier output")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    settings = Settings(n_users=args.users, n_videos=args.videos)
    try:
        simulate(args.out, seed=args.seed, settings=settings, name=args.name, overwrite=args.overwrite,
                 quiet=args.quiet)
    except ConversionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
