"""`animalsort classify` as a user runs it, in a fresh process: its wall time, the time to its
first CSV row (interpreter, torch and model start-up included) and its peak RSS (the largest
process's, main or decoding worker, from the kernel's accounting of a waited-for child). What
classify_speed.py and memory_scale.py measure end to end."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

# Runs the command as its child and prints the children's peak RSS (KiB) last.
WRAPPER = (
    "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(r.returncode)"
)


@dataclass(frozen=True)
class Run:
    wall_s: float
    first_row_s: float  # the wall time where no row appeared before the end
    peak_rss_mb: float


def classify(folder: Path, out: Path, options: list[str]) -> Run:
    """``animalsort -q classify FOLDER --out OUT OPTIONS…``, timed; exits naming the command if it fails."""
    cmd = [sys.executable, "-m", "animalsort", "-q", "classify", str(folder), "--out", str(out), *options]
    out.unlink(missing_ok=True)
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", WRAPPER, *cmd], stdout=subprocess.PIPE, text=True)
    first_row = None
    while proc.poll() is None:
        if first_row is None and out.exists():
            with open(out, "rb") as f:
                if f.read().count(b"\n") >= 2:
                    first_row = time.perf_counter() - t0
        time.sleep(0.01)
    wall = time.perf_counter() - t0
    stdout = proc.stdout.read() if proc.stdout else ""
    if proc.returncode != 0:
        raise SystemExit(f"classify failed: {' '.join(cmd)}")
    peak = int(stdout.strip().splitlines()[-1]) / 1024
    return Run(wall, first_row if first_row is not None else wall, peak)
