"""What this machine offers the pipeline: the CPUs this process may use, and how many decode
workers that makes.
"""

from __future__ import annotations

import os


def cpu_count() -> int:
    """Cores this process may use (respects affinity masks and cgroup-pinned CPUs)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def default_workers() -> int:
    """One core stays with the main process (the model); the rest decode (at most 8: beyond that, I/O rules)."""
    return max(1, min(8, cpu_count() - 1))


#: The CPU features that decide which number formats run fast (see ``cpu_features``).
FEATURES = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile")


def cpu_features(cpuinfo: str | None = None) -> tuple[str, ...]:
    """Which of FEATURES this CPU has, from ``/proc/cpuinfo`` (Linux; elsewhere, or when it
    cannot be read, nothing is claimed: an empty tuple)."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
                cpuinfo = f.read()
        except OSError:
            return ()
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            flags.update(value.split())
    return tuple(f for f in FEATURES if f in flags)
