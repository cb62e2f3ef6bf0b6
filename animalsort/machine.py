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
