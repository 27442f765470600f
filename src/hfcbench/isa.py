"""A pinned CPU instruction set, so that a run gives the same numbers on any recent x86 CPU.

PyTorch (ATen kernels, oneDNN convolutions, MKL), numpy and OpenBLAS pick their vector kernels at
run time: on a CPU with AVX-512 they use wider kernels than on one with AVX2 only, sums are
taken in another order, and a trained classifier ends with other weights (on the smoke profile
33 of 78 AUCs of the regression gate moved by more than 0.02 between two such machines). With
``--isa avx2`` every library is held to AVX2 kernels, which every x86 CPU from 2013 on has, so
the same command gives the same numbers on an AVX2 machine and on an AVX-512 one.

Bit-identical results further need the same library versions (torch, numpy, scikit-learn,
faiss), the same number of threads (``torch.get_num_threads()``: reductions are split by thread)
and the same device; every record stores all of these under ``versions``, and ``hfcbench check``
refuses to compare results made under another instruction set or thread count than its baseline.

The variables must be set before the libraries load, so a pinned command runs in a child process
of the ``hfcbench`` that was called (:func:`run_pinned`).
"""

from __future__ import annotations

import os
import subprocess
import sys

ISAS = ("native", "avx2")
PINNED_ENV = {
    "avx2": {
        "ATEN_CPU_CAPABILITY": "avx2",          # PyTorch's own CPU kernels
        "ONEDNN_MAX_CPU_ISA": "AVX2",           # convolutions (oneDNN)
        "MKL_ENABLE_INSTRUCTIONS": "AVX2",      # PyTorch's BLAS
        "OPENBLAS_CORETYPE": "Haswell",         # numpy's and scipy's BLAS (scikit-learn)
        "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",  # numpy's own loops
        "FAISS_OPT_LEVEL": "avx2",              # LID's kNN candidates
    },
}


def is_pinned(isa: str) -> bool:
    """Whether this process already runs under ``isa``'s variables (``native`` always does)."""
    return all(os.environ.get(key) == value for key, value in PINNED_ENV.get(isa, {}).items())


def run_pinned(isa: str, argv: list[str]) -> int:
    """Run ``hfcbench ARGV`` in a child process under ``isa``'s variables; its exit status. A
    Ctrl-C reaches the child as well (one process group), which stops by itself."""
    child = subprocess.Popen([sys.executable, "-m", "hfcbench.cli", *argv], env={**os.environ, **PINNED_ENV[isa]})
    while True:
        try:
            return child.wait()
        except KeyboardInterrupt:
            continue


def describe() -> dict:
    """What the numbers of this process depend on, for a record's ``versions``."""
    import platform
    from importlib import metadata

    import torch

    from . import __version__

    pinned = next((isa for isa in PINNED_ENV if is_pinned(isa)), "native")
    libraries = {name: metadata.version(dist) for name, dist in
                 (("numpy", "numpy"), ("scikit-learn", "scikit-learn"), ("faiss", "faiss-cpu"))
                 if _installed(dist)}
    return {"hfcbench": __version__, "torch": torch.__version__, **libraries, "python": platform.python_version(),
            "isa": pinned, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "threads": torch.get_num_threads()}


def _installed(dist: str) -> bool:
    from importlib import metadata

    try:
        metadata.version(dist)
        return True
    except metadata.PackageNotFoundError:
        return False
