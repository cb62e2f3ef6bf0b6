"""What this machine offers the pipeline: the CPUs this process may use, and how many decode
workers that makes.
"""

from __future__ import annotations

import os
import subprocess
import sys


def cpu_count() -> int:
    """Cores this process may use (respects affinity masks and cgroup-pinned CPUs)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def default_workers() -> int:
    """One core stays with the main process (the model); the rest decode (at most 8: beyond that, I/O rules)."""
    return max(1, min(8, cpu_count() - 1))


#: The CPU features that decide which number formats run fast (see ``cpu_features``).
FEATURES = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile")


def cpu_features(cpuinfo: str | None = None) -> tuple[str, ...]:
    """Which of FEATURES this CPU has: from ``/proc/cpuinfo`` on Linux, ``sysctl`` on macOS,
    ``IsProcessorFeaturePresent`` on Windows (AVX2 and AVX-512 F only: Windows does not report
    VNNI, BF16 or AMX there). Nothing is claimed (an empty tuple) where none can be read."""
    if cpuinfo is not None:
        return features_from_cpuinfo(cpuinfo)
    if sys.platform.startswith("linux"):
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
                return features_from_cpuinfo(f.read())
        except OSError:
            return ()
    if sys.platform == "darwin":
        try:
            out = subprocess.run(["sysctl", "-a"], capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            return ()
        return features_from_sysctl(out)
    if sys.platform == "win32":
        return features_from_windows(_windows_present())
    return ()


def features_from_cpuinfo(cpuinfo: str) -> tuple[str, ...]:
    """FEATURES among the ``flags`` lines of Linux's ``/proc/cpuinfo``."""
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            flags.update(value.split())
    return tuple(f for f in FEATURES if f in flags)


#: macOS ``sysctl`` names (Intel Macs: machdep.cpu.*features; Apple silicon: hw.optional.arm.*).
_SYSCTL = {
    "AVX2": "avx2",
    "AVX512F": "avx512f",
    "AVX512VNNI": "avx512_vnni",
    "AVX512BF16": "avx512_bf16",
    "hw.optional.arm.FEAT_BF16": "arm_bf16",
    "hw.optional.arm.FEAT_I8MM": "arm_i8mm",
}


def features_from_sysctl(text: str) -> tuple[str, ...]:
    """FEATURES (and Apple silicon's bf16 / int8 matrix extensions) from ``sysctl -a``."""
    found: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key.startswith("machdep.cpu.") and key.endswith("features"):
            found.update(_SYSCTL[w] for w in value.upper().split() if w in _SYSCTL)
        elif key in _SYSCTL and value == "1":
            found.add(_SYSCTL[key])
    return tuple(f for f in (*FEATURES, "arm_bf16", "arm_i8mm") if f in found)


#: Windows processor-feature numbers (winnt.h PF_*): AVX2 = 40, AVX512F = 41.
WINDOWS_FEATURES = {40: "avx2", 41: "avx512f"}


def _windows_present() -> dict[int, bool]:
    import ctypes

    kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
    return {n: bool(kernel32.IsProcessorFeaturePresent(n)) for n in WINDOWS_FEATURES}


def features_from_windows(present: dict[int, bool]) -> tuple[str, ...]:
    names = {WINDOWS_FEATURES[n] for n, on in present.items() if on and n in WINDOWS_FEATURES}
    return tuple(f for f in FEATURES if f in names)


def has_native_bf16(features: tuple[str, ...]) -> bool:
    """Native bf16 math: AVX512-BF16 or AMX (x86), FEAT_BF16 (Arm)."""
    return any(f in features for f in ("avx512_bf16", "amx_tile", "arm_bf16"))


def has_vnni(features: tuple[str, ...]) -> bool:
    """u8×s8 dot products that do not saturate (VNNI or AMX): full 8-bit int8 ranges are safe."""
    return any(f in features for f in ("avx512_vnni", "avx_vnni", "amx_tile"))
