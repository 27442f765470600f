#!/usr/bin/env bash
# The GPU path end to end: the smoke profile of `hfcbench run` and of every experiment with
# --device cuda, and LID's kNN on faiss-gpu. For a machine with a CUDA GPU and the gpu extra
# (pip install -e ".[gpu,plots]"); it fails at once, saying why, where either is missing.
# A tensor left on the wrong device raises inside torch, so a run that completes is the check.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-gpu-check-out}"
python - <<'PY'
import sys
import torch
if not torch.cuda.is_available():
    sys.exit("gpu_check: torch sees no CUDA GPU")
import faiss
if getattr(faiss, "get_num_gpus", lambda: 0)() < 1:
    sys.exit("gpu_check: faiss has no GPU (pip install faiss-gpu, the gpu extra)")
import numpy as np
from hfcbench.knn import knn_distances
rng = np.random.default_rng(0)
q, r = rng.normal(size=(300, 64)), rng.normal(size=(2000, 64))
exact = np.sort(np.sqrt(((q[:, None] - r[None]) ** 2).sum(-1)), axis=1)[:, :20]
np.testing.assert_allclose(knn_distances(q, r, 20), exact, rtol=1e-5)
print(f"gpu_check: {torch.cuda.get_device_name(0)}; faiss-gpu kNN matches the exact distances")
PY
rm -rf "$out"
hfcbench run --profile smoke --detectors all --attacks all --device cuda --quiet --out "$out/run"
grep -q '"device": "cuda' "$out/run/results.jsonl"
hfcbench experiment all --profile smoke --device cuda --quiet --out "$out/experiments"
echo "gpu_check: run and every experiment completed on CUDA; outputs in $out"
