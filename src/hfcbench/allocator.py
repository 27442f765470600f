"""Keep freed memory in the process: glibc's allocator told not to hand it back to the system.

An attack step allocates and frees activation-sized tensors (a few MB each) dozens of times. By
default glibc serves blocks above its mmap threshold with fresh ``mmap`` calls and returns freed
heap tops to the system, so every step pays page faults to zero new pages: on the CPUs this suite
was profiled on a 3.2 MB copy took about 3.5 ms, and one BIM step on ResNet-20 ran 1.2-1.4x
faster with the two settings below. They change where memory comes from, never a number.

The cost: the process keeps its peak memory until it exits. ``HFCBENCH_SYSTEM_MALLOC=1`` in the
environment leaves glibc's defaults alone. Nothing happens on other platforms or C libraries.
"""

from __future__ import annotations

import ctypes
import os
import sys

M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's malloc.h
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 1 << 30  # blocks below 1 GiB come from the heap ...
TRIM_THRESHOLD = 2 ** 31 - 1  # ... and freed heap memory stays in the process

OPT_OUT = "HFCBENCH_SYSTEM_MALLOC"


def keep_freed_memory() -> bool:
    """Set both thresholds once per process; whether glibc accepted them (False when opted out,
    not on Linux, or not glibc)."""
    if os.environ.get(OPT_OUT, "") not in ("", "0") or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library the interpreter runs on
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
