"""Print the speed ratios the benchmarks target, measured side by side in one run.

Rounds alternate between the two implementations of each pair, so load on a shared machine
affects both alike; the median of the per-round ratios is printed.

    python benchmarks/ratios.py
"""

from __future__ import annotations

import statistics
import subprocess
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


def bim_against_torchattacks(rounds: int = 15) -> float:
    """hfcbench's BIM (``build_attack``, its process importing hfcbench) against torchattacks' BIM
    on a plain PyTorch ResNet-20 of the same shape (a process that never imports hfcbench), one
    attack each per round, alternating (``bim_worker.py``). Needs ``pip install --no-deps
    torchattacks`` (its wheel asks for torchvision, which the suite does not use). Returns
    hfcbench's seconds per step."""
    worker = Path(__file__).with_name("bim_worker.py")
    sides = {side: subprocess.Popen([sys.executable, str(worker), side], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, text=True, cwd=worker.parent)
             for side in ("torchattacks", "hfcbench")}
    seconds: dict[str, list[float]] = {side: [] for side in sides}

    def one_attack(side: str):
        def run():
            sides[side].stdin.write("go\n")
            sides[side].stdin.flush()
            seconds[side].append(float(sides[side].stdout.readline()))
        return run

    try:
        for process in sides.values():
            if process.stdout.readline().strip() != "ready":
                raise SystemExit("a BIM worker failed to start (is torchattacks installed?)")
        paired(one_attack("torchattacks"), one_attack("hfcbench"), rounds)
    finally:
        for process in sides.values():
            process.stdin.close()
            process.wait()
    ratio = statistics.median(a / b for a, b in zip(seconds["torchattacks"], seconds["hfcbench"], strict=True))
    print(f"BIM step, ResNet-20, batch 64, 28x28: torchattacks / hfcbench = {ratio:.2f}x "
          f"(separate processes, {rounds} alternating rounds of {bim_worker_steps()} steps)")
    return statistics.median(seconds["hfcbench"])


def bim_worker_steps() -> int:
    sys.path.insert(0, str(Path(__file__).parent))
    import bim_worker

    return bim_worker.STEPS


def conv_ceiling_fraction(step_seconds: float) -> None:
    """The share of this CPU's convolution ceiling a BIM step reaches: the step's convolution
    FLOPs (forward and input-gradient pass, 2 x multiply-adds of every convolution of ResNet-20
    at batch 64) over its seconds, divided by the best rate of plain forward convolutions of the
    network's shapes and of a wider one (128 channels), measured here."""
    import torch

    from hfcbench.models import build_model

    model = build_model("resnet20", (1, 28, 28), 2, [0.5], [0.25]).eval()
    flops = []
    hooks = [m.register_forward_hook(lambda m, i, o: flops.append(2 * o.numel() * m.weight[0].numel()))
             for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        model(torch.rand(64, 1, 28, 28))
    for hook in hooks:
        hook.remove()
    step_flops = 2 * sum(flops)  # forward + the input-gradient pass of the same size
    rates = []
    for channels, size in ((16, 28), (32, 14), (64, 7), (128, 28)):
        conv = torch.nn.Conv2d(channels, channels, 3, 1, 1, bias=False).eval()
        x = torch.rand(64, channels, size, size)
        with torch.no_grad():
            for _ in range(3):
                conv(x)
            start = time.perf_counter()
            for _ in range(20):
                conv(x)
            seconds = (time.perf_counter() - start) / 20
        rates.append(2 * 64 * channels * channels * 9 * size * size / seconds)
    print(f"BIM step: {step_flops / 1e9:.2f} GFLOP of convolutions at {step_flops / step_seconds / 1e9:.0f} GFLOP/s, "
          f"{step_flops / step_seconds / max(rates):.0%} of this CPU's convolution ceiling "
          f"({max(rates) / 1e9:.0f} GFLOP/s, the best plain 3x3 convolution, 16-128 channels)")


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
    conv_ceiling_fraction(bim_against_torchattacks())
    detector_aware_ratios()
