"""Print the speed ratios the benchmarks target, measured side by side in one run.

Rounds alternate between the two implementations of each pair, so load on a shared machine
affects both alike; the median of the per-round ratios is printed.

    python benchmarks/ratios.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def paired(first, second, rounds: int) -> tuple[float, float, float]:
    """Median seconds of ``first`` and ``second`` and the median of their per-round ratio."""
    times_a, times_b, ratios = [], [], []
    for _ in range(rounds):
        start = time.perf_counter()
        first()
        middle = time.perf_counter()
        second()
        end = time.perf_counter()
        times_a.append(middle - start)
        times_b.append(end - middle)
        ratios.append((middle - start) / (end - middle))
    return statistics.median(times_a), statistics.median(times_b), statistics.median(ratios)


def main() -> None:
    import test_bootstrap as boot
    import test_gmm_em as gmm
    import test_hfc_step as hfc
    import test_lid_knn as knn

    query, ref = knn.data.__wrapped__()
    _, _, ratio = paired(lambda: knn.reference_lid(query, ref), lambda: knn.faiss_lid(query, ref), rounds=3)
    print(f"LID kNN, n=10,000 reference, d=512, k=20: cdist+sort / FAISS = {ratio:.1f}x")

    x, resp, init = gmm.problem.__wrapped__()
    _, _, ratio = paired(lambda: gmm.fit_sklearn(x, init), lambda: gmm.fit_ours(x, resp), rounds=3)
    print(f"GMM EM iteration, d=512, M=16, N=4000: scikit-learn / hfcbench = {ratio:.2f}x")

    cell = boot.cell.__wrapped__()
    vectorised, looped, ratio = paired(lambda: boot.vectorised(*cell), lambda: boot.looped(*cell), rounds=3)
    print(f"paired bootstrap of one cell (165 images, 2,000 replicates): {vectorised:.2f} s; a loop over "
          f"replicates takes {1 / ratio:.0f}x as long")

    bim, with_hfc, x, target = hfc.setup.__wrapped__()
    _, _, ratio = paired(lambda: with_hfc.gradient(x, target), lambda: bim.gradient(x, target), rounds=40)
    print(f"attack step, ResNet-20, batch 64: (BIM+HFC) / BIM = {ratio:.3f}x")




def detector_aware_ratios() -> None:
    """Every detector's joint, selective and orthogonal step against BIM (20 paired rounds each)."""
    import test_detector_step as detector_step

    bim, attacks, x, target = detector_step.setup.__wrapped__()
    for (name, spec), attack in attacks.items():
        _, _, ratio = paired(lambda a=attack: detector_step.step(a, x, target),
                             lambda: detector_step.step(bim, x, target), rounds=20)
        print(f"attack step, ResNet-20, batch 64: {spec} against {name} / BIM = {ratio:.2f}x")


if __name__ == "__main__":
    main()
    detector_aware_ratios()
