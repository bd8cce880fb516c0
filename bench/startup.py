"""Time to first window: spawn the app, wait until its main window is exposed, report the median.

    python bench/startup.py [--runs 7] [--exe .venv/bin/pretext-studio | dist/pretext-studio/pretext-studio]

Each run starts ``EXE --print-startup-time`` with throw-away settings, cache and log
folders; the app prints the wall-clock time at which its window was first exposed (and
painted), and whether torch had been imported by then, and closes. The time counts from
just before the process is spawned, so it includes the interpreter's own start. One
warm-up run (disk cache) is not counted. Uses the current display (Xvfb works), else
Qt's offscreen platform. For scale, it also times ``import torch`` on its own, the cost
the app pays later, in a worker, when the Pretrain page first shows.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL_S = 2.0


def default_exe() -> Path:
    return Path(sys.executable).parent / "pretext-studio"


def time_to_window(exe: Path, scratch: Path) -> tuple[float, bool]:
    env = dict(os.environ, XDG_CONFIG_HOME=str(scratch / "config"), XDG_CACHE_HOME=str(scratch / "cache"),
               XDG_DATA_HOME=str(scratch / "data"), XDG_STATE_HOME=str(scratch / "state"))
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
    start = time.time()
    done = subprocess.run([str(exe), "--print-startup-time"], env=env, capture_output=True, text=True, timeout=120)
    line = next((line for line in done.stdout.splitlines() if line.startswith("first-window ")), None)
    if done.returncode != 0 or line is None:
        raise SystemExit(f"{exe} failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
    stamp, torch_flag = line.split()[1:3]
    return float(stamp) - start, torch_flag == "torch-imported=True"


def time_torch_import(python: str) -> float:
    start = time.perf_counter()
    subprocess.run([python, "-c", "import torch"], check=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--exe", type=Path, default=default_exe(), help="the launcher to time")
    args = parser.parse_args()
    platform = "display " + os.environ["DISPLAY"] if os.environ.get("DISPLAY") else "offscreen"
    print(f"{args.exe} ({platform}, {os.cpu_count()} CPUs), {args.runs} runs after one warm-up")
    with tempfile.TemporaryDirectory(prefix="pretext-startup-") as scratch:
        time_to_window(args.exe, Path(scratch) / "warm-up")
        times, torch_seen = [], []
        for run in range(args.runs):
            seconds, torch_loaded = time_to_window(args.exe, Path(scratch) / f"run{run}")
            times.append(seconds)
            torch_seen.append(torch_loaded)
            print(f"  run {run + 1}: {seconds:.3f} s to first window, torch imported: {torch_loaded}")
    median = statistics.median(times)
    print(f"time to first window: median {median:.3f} s (min {min(times):.3f}, max {max(times):.3f}); "
          f"goal < {GOAL_S:.1f} s: {'met' if median < GOAL_S else 'NOT met'}")
    if args.exe == default_exe():
        torch_times = [time_torch_import(sys.executable) for _ in range(3)]
        print(f"for scale, `import torch` alone: median {statistics.median(torch_times):.3f} s "
              "(loaded later, in a worker, when the Pretrain page first shows)")
    if any(torch_seen):
        print("torch was imported before the window showed: the start-up path must not import it")
        return 1
    return 0 if median < GOAL_S else 2


if __name__ == "__main__":
    sys.exit(main())
