"""Speed and peak memory of the ``taobao`` converter on generated Taobao files of known size.

    python benchmarks/taobao_convert_speed.py                       # 2M behaviour-log rows, 1M samples
    python benchmarks/taobao_convert_speed.py --behavior-rows 5000000 --sample-rows 2000000

Writes a raw_sample / ad_feature / user_profile / behavior_log folder in the real layout
(integer ids of the real data's magnitudes, btag shares pv 90%, cart 5%, fav 2.5%,
buy 2.5%, 90% of the behaviour-log users in raw_sample), then converts it twice in a
child process: without behavior_log (the samples, features and writing) and with it.
The difference is the behaviour-log pass; both are extrapolated linearly, by CPU time
(the conversion is single-threaded, so CPU time is what an idle machine takes; wall time
on a shared machine is printed beside it), to the real sizes (26M samples, about 700M behaviour-log rows / 23 GB) and printed with the
measured peak memory of each child. Generated data is for timing only.
"""

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
FULL_BEHAVIOR_ROWS = 700_000_000
FULL_SAMPLE_ROWS = 26_000_000
BTAGS, BTAG_SHARES = ["pv", "cart", "fav", "buy"], [0.9, 0.05, 0.025, 0.025]


def generate(folder: Path, sample_rows: int, behavior_rows: int, seed: int = 0) -> None:
    """The four Taobao files, in the real header layout."""
    rng = np.random.default_rng(seed)
    users = max(sample_rows // 23, 10)  # the real data: 26M samples of 1.14M users
    ads = max(sample_rows // 30, 10)
    start = 1494000000
    clicks = (rng.random(sample_rows) < 0.05).astype(np.int8)
    pd.DataFrame({"user": rng.integers(1, users, sample_rows), "time_stamp": start + rng.integers(0, 8 * 86400,
                  sample_rows), "adgroup_id": rng.integers(1, ads, sample_rows),
                  "pid": rng.choice(["430548_1007", "430539_1007"], sample_rows), "nonclk": 1 - clicks,
                  "clk": clicks}).to_csv(folder / "raw_sample.csv", index=False)
    pd.DataFrame({"adgroup_id": np.arange(1, ads), "cate_id": rng.integers(1, 13000, ads - 1),
                  "campaign_id": rng.integers(1, 420000, ads - 1), "customer": rng.integers(1, 255000, ads - 1),
                  "brand": rng.integers(1, 460000, ads - 1), "price": rng.random(ads - 1).round(2) * 1000,
                  }).to_csv(folder / "ad_feature.csv", index=False)
    profile = pd.DataFrame({"userid": np.arange(1, users)})
    for column in ("cms_segid", "cms_group_id", "final_gender_code", "age_level", "pvalue_level", "shopping_level",
                   "occupation", "new_user_class_level "):
        profile[column] = rng.integers(0, 4, users - 1)
    profile.to_csv(folder / "user_profile.csv", index=False)
    chunk = 1_000_000
    with open(folder / "behavior_log.csv", "w") as handle:
        handle.write("user,time_stamp,btag,cate,brand\n")
        for first in range(0, behavior_rows, chunk):
            rows = min(chunk, behavior_rows - first)
            pd.DataFrame({"user": rng.integers(1, int(users / 0.9), rows),  # 10% not in raw_sample
                          "time_stamp": start - 14 * 86400 + rng.integers(0, 22 * 86400, rows),
                          "btag": rng.choice(BTAGS, rows, p=BTAG_SHARES), "cate": rng.integers(1, 13000, rows),
                          "brand": rng.integers(1, 460000, rows)}).to_csv(handle, header=False, index=False)


def timed_conversion(raw: Path, out: Path):
    """(wall seconds, CPU seconds, peak MB) of one conversion in a fresh process. The
    conversion runs on one core, so its CPU time is what it takes on an idle machine; the
    wall time also counts waiting for a shared CPU."""
    command = [sys.executable, "-m", "recbole_denoise.data.convert", "taobao", "--raw", str(raw), "--out", str(out),
               "--quiet"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"})
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return wall, cpu, max(after.ru_maxrss, before.ru_maxrss) / 1024


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--behavior-rows", type=int, default=2_000_000)
    parser.add_argument("--sample-rows", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="taobao-speed-") as work:
        raw = Path(work) / "raw"
        raw.mkdir()
        generate(raw, args.sample_rows, args.behavior_rows)
        size = (raw / "behavior_log.csv").stat().st_size
        without_log = Path(work) / "no-log"
        without_log.mkdir()
        for name in ("raw_sample.csv", "ad_feature.csv", "user_profile.csv"):
            os.link(raw / name, without_log / name)
        base_wall, base, base_peak = timed_conversion(without_log, Path(work) / "out" / "base")
        total_wall, total, total_peak = timed_conversion(raw, Path(work) / "out" / "full")
    log_seconds = max(total - base, 1e-9)
    log_rate = args.behavior_rows / log_seconds
    sample_rate = args.sample_rows / base
    print(f"behavior_log: {args.behavior_rows:,} rows ({size / 2**20:.0f} MB): {log_seconds:.1f} s CPU "
          f"({total_wall - base_wall:.1f} s wall), {log_rate / 1e6:.2f}M rows per CPU second")
    print(f"raw_sample + features + writing: {args.sample_rows:,} samples: {base:.1f} s CPU ({base_wall:.1f} s wall, "
          f"{sample_rate / 1e6:.2f}M samples per CPU second), peak {base_peak:.0f} MB")
    print(f"whole conversion: {total:.1f} s CPU ({total_wall:.1f} s wall), peak {total_peak:.0f} MB")
    full = FULL_BEHAVIOR_ROWS / log_rate + FULL_SAMPLE_ROWS / sample_rate
    print(f"extrapolated (CPU time) to 700M behaviour-log rows and 26M samples: "
          f"{minutes(FULL_BEHAVIOR_ROWS / log_rate)} + {minutes(FULL_SAMPLE_ROWS / sample_rate)} = {minutes(full)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
