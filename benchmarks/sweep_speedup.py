"""The speed-up of ``hfcbench sweep --executor ray --workers 2`` over ``--executor local``.

One grid (2 datasets x 2 seeds on the smoke profile, 3 detectors, HFC and the closest guide: 36
tasks), each executor from an empty cache, one after the other, on this machine; prints both wall
times, their ratio, and whether the two result files agree. Wall time includes Ray's start-up.

    python benchmarks/sweep_speedup.py [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GRID = """
dataset = ["synthetic", "breastmnist"]
seed = [0, 1]
profile = "smoke"
epochs = 6
detectors = "kd,maha,lid"
attacks = "hfc,closest"
fit_attacks = "bim"
"""
HFCBENCH = str(Path(sys.executable).with_name("hfcbench"))


def records(path: Path) -> list[dict]:
    out = []
    for line in path.read_text().splitlines():
        record = json.loads(line)
        record.pop("timings")
        out.append(record)
    return out


def sweep(folder: Path, grid: Path, executor: str) -> tuple[float, Path]:
    out = folder / executor
    env = {**os.environ, "HFCBENCH_CACHE": str(folder / f"cache-{executor}")}
    command = [HFCBENCH, "sweep", str(grid), "--out", str(out), "--quiet", "--executor", executor]
    if executor == "ray":
        command += ["--workers", "2"]
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True)
    return time.perf_counter() - start, out / "results.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=2)
    rounds = parser.parse_args().rounds
    for i in range(rounds):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            grid = folder / "grid.toml"
            grid.write_text(GRID)
            local, local_results = sweep(folder, grid, "local")
            ray, ray_results = sweep(folder, grid, "ray")
            same = records(local_results) == records(ray_results)
            print(f"round {i + 1}: local {local:.1f} s, ray (2 workers) {ray:.1f} s, speed-up {local / ray:.2f}x; "
                  f"records identical: {same}")


if __name__ == "__main__":
    main()
