"""DUMN speed and memory at Taobao scale on generated feedback data.

    python benchmarks/speed_dumn.py --scale taobao --threads 1   # 1.14M users, 846,811 ads, 26M samples, 30M likes
    python benchmarks/speed_dumn.py --scale small                # a quick check (about 1% of it)
    python benchmarks/speed_dumn.py --scale taobao --fraction 0.25

The generated files follow the DUMN data contract (``docs/feedback_data.md``) as the
``taobao`` converter writes them: ``<name>.train/.valid/.test.inter`` (one row per
impression, ``label`` = ``click``, about 5% clicks, ``like`` / ``dislike`` empty; test
from 2017-05-13 00:00 UTC, validation the day before), ``<name>.item`` (ads with
``cate_id`` / ``brand``), ``<name>.user`` (gender, age level) and ``<name>.feedback``
(behaviour-log cart / fav / buy as ``like`` events with ``[NO_ITEM]`` and their own
cate / brand; 30M at full scale, about the cart / fav / buy share, 5%, of the 700M-row
log). Ids are zero-padded integers so every file is written as one fixed-width byte
matrix (numpy, no Python loop per row). The files go to a temporary folder and are
deleted at the end.

A worker process loads them through the package (``Config``, ``create_dataset``,
``data_preparation``, as ``run_recbole_denoise.py`` does), builds DUMN (T = 100 for all
four kinds, the paper's sizes), runs ``--batches`` training steps of
``train_batch_size`` and predicts ``--eval-batches`` validation batches, and reports:
load time, peak RSS after loading, bytes of the ``FeedbackHistories`` buffers, training
throughput and the peak RSS during the training steps (``VmHWM`` reset before them via
``/proc/self/clear_refs``), and the process's overall peak.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import yaml

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import (  # noqa: E402
    command_line, markdown_table, parse_benchmark_args, run_benchmark, set_threads, write_section,
)

NAME = "taobao-synthetic"
# the public Ad Display/Click data: users, ads, impressions of raw_sample; likes = cart / fav / buy events kept
SCALES = {
    "taobao": {"users": 1_141_729, "items": 846_811, "samples": 26_557_961, "likes": 30_000_000,
               "categories": 6_769, "brands": 99_815},
    "small": {"users": 11_417, "items": 8_468, "samples": 265_580, "likes": 300_000, "categories": 677, "brands": 998},
}
CLICK_RATE = 0.05  # raw_sample: about 5.1% of impressions are clicks
SAMPLES_FROM, TEST_FROM, SAMPLES_TO = 1_494_000_000, 1_494_633_600, 1_494_691_200  # 2017-05-05 .. 2017-05-13 UTC
VALID_FROM = TEST_FROM - 86_400
LOG_FROM = SAMPLES_FROM - 14 * 86_400  # behaviour log starts before the impressions
NO_ITEM = "[NO_ITEM]"


# --------------------------------------------------------------------------- generation


def digits(values, width):
    """uint8 [N, width]: zero-padded decimal text of non-negative integers (one token per row)."""
    values = np.asarray(values, dtype=np.int64)
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return ((values[:, None] // powers) % 10 + ord("0")).astype(np.uint8)


def constant(text, rows):
    return np.broadcast_to(np.frombuffer(text.encode(), dtype=np.uint8), (rows, len(text)))


def write_rows(path, header, columns, chunk=2_000_000):
    """Write ``columns`` (functions of a row slice -> uint8 [n, width] matrices) tab-separated."""
    rows = columns[0][1]
    with open(path, "wb") as handle:
        handle.write(("\t".join(header) + "\n").encode())
        for start in range(0, rows, chunk):
            stop = min(rows, start + chunk)
            parts = []
            for index, (make, _) in enumerate(columns):
                parts.append(make(start, stop))
                parts.append(constant("\n" if index == len(columns) - 1 else "\t", stop - start))
            handle.write(np.ascontiguousarray(np.hstack(parts)).tobytes())


def empty(start, stop):
    return np.zeros((stop - start, 0), dtype=np.uint8)


def width(count):
    return len(str(max(count, 1)))


def generate(folder, sizes, history_length, seed=0):
    """The atomic files and yaml of one synthetic Taobao-like feedback dataset; returns row counts."""
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    users, items, samples, likes = sizes["users"], sizes["items"], sizes["samples"], sizes["likes"]
    uw, iw, cw, bw = width(users), width(items), width(sizes["categories"]), width(sizes["brands"])
    # popularity is skewed (Zipf-like) for ads, flat-ish for users
    item_cate = rng.integers(0, sizes["categories"], items)
    item_brand = rng.integers(0, sizes["brands"], items)
    write_rows(os.path.join(folder, f"{NAME}.item"), ["item_id:token", "cate_id:token", "brand:token"], [
        (lambda a, b: digits(np.arange(a, b), iw), items),
        (lambda a, b: digits(item_cate[a:b], cw), items),
        (lambda a, b: digits(item_brand[a:b], bw), items)])
    gender, age = rng.integers(1, 3, users), rng.integers(0, 7, users)
    write_rows(os.path.join(folder, f"{NAME}.user"), ["user_id:token", "gender:token", "age_level:token"], [
        (lambda a, b: digits(np.arange(a, b), uw), users),
        (lambda a, b: digits(gender[a:b], 1), users),
        (lambda a, b: digits(age[a:b], 1), users)])

    sample_user = rng.integers(0, users, samples)
    sample_item = np.minimum(rng.zipf(1.3, samples) - 1, items - 1)
    sample_item = rng.permutation(items)[sample_item]  # popular ads spread over the id range
    sample_time = np.sort(rng.integers(SAMPLES_FROM, SAMPLES_TO, samples))
    click = (rng.random(samples) < CLICK_RATE).astype(np.int64)
    parts = {"train": sample_time < VALID_FROM, "valid": (sample_time >= VALID_FROM) & (sample_time < TEST_FROM),
             "test": sample_time >= TEST_FROM}
    header = ["user_id:token", "item_id:token", "timestamp:float", "label:float", "click:float", "like:float",
              "dislike:float"]
    counts = {}
    for part, chosen in parts.items():
        rows = np.flatnonzero(chosen)
        counts[f"{part} samples"] = int(rows.size)
        u, i, t, c = sample_user[rows], sample_item[rows], sample_time[rows], click[rows]
        write_rows(os.path.join(folder, f"{NAME}.{part}.inter"), header, [
            (lambda a, b: digits(u[a:b], uw), rows.size), (lambda a, b: digits(i[a:b], iw), rows.size),
            (lambda a, b: digits(t[a:b], 10), rows.size), (lambda a, b: digits(c[a:b], 1), rows.size),
            (lambda a, b: digits(c[a:b], 1), rows.size),
            (empty, rows.size), (empty, rows.size)])  # like, dislike: empty cells
    del sample_user, sample_item, sample_time, click

    like_user = rng.integers(0, users, likes)
    like_time = rng.integers(LOG_FROM, SAMPLES_TO, likes)
    like_cate, like_brand = rng.integers(0, sizes["categories"], likes), rng.integers(0, sizes["brands"], likes)
    write_rows(os.path.join(folder, f"{NAME}.feedback"),
               ["user_id:token", "timestamp:float", "kind:token", "item_id:token", "cate_id:token", "brand:token"], [
                   (lambda a, b: digits(like_user[a:b], uw), likes), (lambda a, b: digits(like_time[a:b], 10), likes),
                   (lambda a, b: constant("like", b - a), likes), (lambda a, b: constant(NO_ITEM, b - a), likes),
                   (lambda a, b: digits(like_cate[a:b], cw), likes), (lambda a, b: digits(like_brand[a:b], bw), likes)])
    counts["like events"] = likes
    config = {
        "load_col": {"inter": ["user_id", "item_id", "timestamp", "label", "click", "like", "dislike"],
                     "item": ["item_id", "cate_id", "brand"], "user": ["user_id", "gender", "age_level"]},
        "benchmark_filename": ["train", "valid", "test"],
        "dataset_class": "FeedbackHistoryDataset", "LABEL_FIELD": "label",
        "feedback_fields": {"click": "click", "like": "like", "dislike": None},  # Taobao: no dislike
        "feedback_events": "feedback", "history_item_fields": ["item_id", "cate_id", "brand"],
        "history_length": history_length,
        "eval_args": {"order": "TO", "group_by": None, "mode": "labeled"},
        "metrics": ["AUC", "LogLoss"], "valid_metric": "AUC", "numerical_features": []}
    with open(os.path.join(folder, f"{NAME}.yaml"), "w") as handle:
        yaml.safe_dump(config, handle)
    return counts


def generated(folder, sizes, history_length):
    """``generate`` unless ``folder`` already holds the same data (a ``--keep`` folder of an earlier run)."""
    marker = os.path.join(folder, "generated.json")
    wanted = {"sizes": sizes, "history_length": history_length}
    if os.path.isfile(marker):
        with open(marker) as handle:
            done = json.load(handle)
        if done["wanted"] == wanted:
            log(f"reusing the data in {folder}")
            return done["counts"], done["seconds"]
    started = time.perf_counter()
    counts = generate(folder, sizes, history_length)
    seconds = time.perf_counter() - started
    with open(marker, "w") as handle:
        json.dump({"wanted": wanted, "counts": counts, "seconds": seconds}, handle)
    return counts, seconds


# --------------------------------------------------------------------------- measurement


def memory_mb():
    """``{VmRSS, VmHWM}`` of this process in MB (VmHWM: the peak since start or the last reset)."""
    values = {}
    with open("/proc/self/status") as handle:
        for line in handle:
            key = line.split(":")[0]
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(line.split()[1]) / 1024
    return values


def reset_peak():
    """Start a new VmHWM window (Linux >= 4.0); False where the kernel refuses."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def trimmed_rss_mb():
    """RSS after ``gc.collect()`` and glibc's ``malloc_trim(0)``: memory still in use, without the
    freed heap the allocator keeps (None where there is no glibc)."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        return None
    return memory_mb()["VmRSS"]


def buffer_bytes(module):
    return sum(buffer.numel() * buffer.element_size() for buffer in module.buffers())


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def measure(root, batches, eval_batches, batch_size, threads):
    import torch

    set_threads(threads)
    from recbole.utils import init_seed

    from recbole_denoise.config import Config
    from recbole_denoise.utils import create_dataset, data_preparation, get_model, get_trainer

    config = Config(model="DUMN", dataset=NAME, config_dict={
        "data_path": root, "state": "ERROR", "show_progress": False, "train_batch_size": batch_size,
        "checkpoint_dir": os.path.join(root, "saved")})
    init_seed(config["seed"], True)
    result = {"threads": torch.get_num_threads(), "T": config["history_length"]}
    started = time.perf_counter()
    dataset = create_dataset(config)
    result["create_dataset_s"] = time.perf_counter() - started
    result["after_create_dataset"] = memory_mb()
    log(f"create_dataset {result['create_dataset_s']:.0f} s, {result['after_create_dataset']}")
    train, valid, _ = data_preparation(config, dataset)
    result["load_s"] = time.perf_counter() - started
    result["after_load"] = memory_mb()
    log(f"data_preparation done at {result['load_s']:.0f} s, {result['after_load']}")
    result["after_load_trimmed"] = trimmed_rss_mb()
    log(f"RSS after gc + malloc_trim {result['after_load_trimmed']:.0f} MB")
    histories = dataset.feedback_histories
    result["users"], result["items"] = dataset.user_num - 1, dataset.item_num - 1
    result["train_samples"], result["valid_samples"] = len(train._dataset), len(valid._dataset)
    result["events"] = {kind: histories.n_events(kind) for kind in ("click", "unclick", "like", "dislike")}
    result["histories_bytes_kinds"] = buffer_bytes(histories)

    model = get_model("DUMN")(config, train._dataset).to(config["device"])  # builds the merged "all" view too
    result["histories_bytes"] = buffer_bytes(histories)
    result["model_parameters"] = sum(p.numel() for p in model.parameters())
    result["after_model"] = memory_mb()
    trainer = get_trainer(config["MODEL_TYPE"], "DUMN", config)(config, model)

    result["peak_reset"] = reset_peak()
    model.train()
    seconds, samples = [], 0
    iterator = iter(train)
    started = time.perf_counter()
    for _ in range(batches):
        interaction = next(iterator).to(trainer.device)
        step = time.perf_counter()
        trainer.optimizer.zero_grad()
        model.calculate_loss(interaction).backward()
        trainer.optimizer.step()
        seconds.append(time.perf_counter() - step)
        samples += len(interaction)
    result["train_s"] = time.perf_counter() - started
    result["train_samples_per_s"] = samples / result["train_s"]
    result["step_median_s"] = float(np.median(seconds))
    result["train_peak"] = memory_mb()
    log(f"training {samples} samples in {result['train_s']:.1f} s, {result['train_peak']}")

    model.eval()
    samples = 0
    started = time.perf_counter()
    with torch.no_grad():
        for index, batch in enumerate(valid):
            if index == eval_batches:
                break
            interaction = batch[0] if isinstance(batch, tuple) else batch
            model.predict(interaction.to(trainer.device))
            samples += len(interaction)
    result["eval_s"] = time.perf_counter() - started
    result["eval_samples"] = samples
    result["eval_samples_per_s"] = samples / result["eval_s"]
    result["final"] = memory_mb()
    result["overall_peak_mb"] = max(result["final"]["VmHWM"], result["after_model"]["VmHWM"])
    return result


# --------------------------------------------------------------------------- report


def report(args, counts, result, generate_s):
    mb = lambda value: f"{value:,.0f}"  # noqa: E731
    events = sum(result["events"].values())
    t = result["T"]
    all_samples = counts["train samples"] + counts["valid samples"] + counts["test samples"]
    materialised = all_samples * 4 * t * 8  # int64 item ids of every window
    rows = [
        ["samples (train / valid / test)", f"{counts['train samples']:,} / {counts['valid samples']:,} / "
                                           f"{counts['test samples']:,}"],
        ["users / ads", f"{result['users']:,} / {result['items']:,}"],
        ["history events (click / unclick / like / dislike)",
         " / ".join(f"{result['events'][k]:,}" for k in ("click", "unclick", "like", "dislike"))],
        ["dataset load s (create_dataset + data_preparation)", f"{result['load_s']:.0f} ({result['create_dataset_s']:.0f} "
                                                               f"+ {result['load_s'] - result['create_dataset_s']:.0f})"],
        ["peak RSS after loading MB", mb(result["after_load"]["VmHWM"])],
        ["RSS after loading MB (after gc + malloc_trim)", f"{mb(result['after_load']['VmRSS'])} "
                                                        f"({mb(result['after_load_trimmed'] or 0)})"],
        ["FeedbackHistories buffers MB (after create_dataset / after building DUMN)",
         f"{mb(result['histories_bytes_kinds'] / 2 ** 20)} / {mb(result['histories_bytes'] / 2 ** 20)} "
         f"({result['histories_bytes'] / max(events, 1):.1f} bytes an event)"],
        [f"training samples / s ({args.batches} batches of {args.batch_size})", f"{result['train_samples_per_s']:,.0f}"],
        ["median training step s", f"{result['step_median_s']:.3f}"],
        ["peak RSS during training steps MB" + ("" if result["peak_reset"] else " (peak not reset: overall)"),
         mb(result["train_peak"]["VmHWM"])],
        [f"validation predict samples / s ({result['eval_samples']:,} samples)", f"{result['eval_samples_per_s']:,.0f}"],
        ["overall peak RSS of the process MB", mb(result["overall_peak_mb"])],
    ]
    scale = f"`--scale {args.scale}`" + (f" x {args.fraction}" if args.fraction != 1 else "")
    body = (f"### DUMN speed and memory at Taobao scale\n\n"
            f"Generated Taobao-like feedback data ({scale}; {counts['like events']:,} behaviour-log like events with "
            f"`[NO_ITEM]`, no dislike, about 5% clicks), T = {t} for all four kinds, DUMN with the paper's sizes "
            f"(embedding 16, 4 memories of 256 x 64, {result['model_parameters']:,} parameters). Machine: 2 shared CPU "
            f"cores, {result['threads']} torch thread(s), no GPU; the data was written in {generate_s:.0f} s. "
            f"Materialised int64 windows (samples x 4 kinds x T) would take {materialised / 1e9:,.0f} GB for the item "
            f"ids alone, {3 * materialised / 1e9:,.0f} GB with cate_id and brand. MB are 2^20 bytes; the "
            f"requirement is 8 GB = 8,192 MB.\n\nCommand: `{command_line()}`\n\n"
            f"{markdown_table(['measure', 'value'], rows)}\n")
    return body


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="taobao")
    parser.add_argument("--fraction", type=float, default=1.0, help="scale every count (default: %(default)s)")
    parser.add_argument("--history-length", type=int, default=100, help="T (default: %(default)s)")
    parser.add_argument("--batches", type=int, default=50, help="timed training steps (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=1024, help="train_batch_size (default: %(default)s)")
    parser.add_argument("--eval-batches", type=int, default=5, help="validation batches predicted (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default: %(default)s; 1 on a shared "
                                                               "machine)")
    parser.add_argument("--keep", help="write the data to this folder and keep it (default: a temporary folder)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parse_benchmark_args(parser)
    if args.worker:  # measure in this process; the result as the last line
        print(json.dumps(measure(args.worker, args.batches, args.eval_batches, args.batch_size, args.threads)))
        return

    if not 0 < args.fraction <= 1:
        parser.error(f"--fraction {args.fraction}: expected a number in (0, 1]")
    sizes = {key: max(1, round(value * args.fraction)) for key, value in SCALES[args.scale].items()}
    root = args.keep or tempfile.mkdtemp(prefix="speed-dumn-")
    try:
        counts, generate_s = generated(os.path.join(root, NAME), sizes, args.history_length)
        log(f"generated {counts} in {generate_s:.0f} s under {root}")
        command = [sys.executable, os.path.abspath(__file__), "--worker", root, "--batches", str(args.batches),
                   "--batch-size", str(args.batch_size), "--eval-batches", str(args.eval_batches),
                   "--threads", str(args.threads)]
        output = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True).stdout
        result = json.loads(output.strip().splitlines()[-1])
        print(json.dumps(result, indent=1), flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    body = report(args, counts, result, generate_s)
    print(body)
    write_section("speed-dumn", body)


if __name__ == "__main__":
    run_benchmark(main)
