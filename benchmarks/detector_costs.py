"""Fit and score time of every registered detector against MAHA's, measured side by side in one run.

On one dataset's AdvTrain (clean, noisy and successful BIM AEs, the training set as reference)
each detector is fitted and then scores AdvTest clean inputs and AEs, ``--repeats`` times
alternating between detectors; the medians are printed as ratios to MAHA's. Features (and maps,
for detectors that read them) are extracted once beforehand and not timed.

    python benchmarks/detector_costs.py --dataset pneumoniamnist --profile quick --limit 300 [--epochs 4]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from hfcbench.detectors import DETECTORS
from hfcbench.models.features import Features
from hfcbench.protocol.config import RunConfig
from hfcbench.protocol.runner import Runner


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="pneumoniamnist")
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--limit", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--detectors", default="all")
    args = parser.parse_args()
    names = DETECTORS.names() if args.detectors == "all" else args.detectors.split(",")
    run = Runner(RunConfig(dataset=args.dataset, profile=args.profile, limit=args.limit, epochs=args.epochs,
                           detectors="maha", attacks="bim", fit_attacks="bim", device="cpu", quiet=True))
    inputs = {}
    for maps in sorted({run.needs_maps(n) for n in names}):
        inputs[maps] = dict(clean=run.clean_features("advtrain", maps=maps),
                            adv=run.successful("bim", "advtrain", maps=maps),
                            noisy=run.noisy_features("bim", maps=maps),
                            scored=Features.concat([run.clean_features("advtest", maps=maps),
                                                    run.successful("bim", "advtest", maps=maps)]))
    reference = run.context().reference
    seconds: dict[str, dict[str, list[float]]] = {n: {"fit": [], "score": []} for n in names}
    for _ in range(args.repeats):
        for name in names:
            part = inputs[run.needs_maps(name)]
            start = time.perf_counter()
            detector = DETECTORS.get(name)().fit(part["clean"], part["adv"], part["noisy"], reference=reference)
            middle = time.perf_counter()
            detector.score(part["scored"])
            seconds[name]["fit"].append(middle - start)
            seconds[name]["score"].append(time.perf_counter() - middle)
    base = {k: float(np.median(v)) for k, v in seconds["maha"].items()}
    print(f"{run.arch} on {args.dataset}: fit on {len(inputs[False]['clean'])} clean + {len(inputs[False]['adv'])} "
          f"AEs (+ noisy), reference {len(reference)}, score {len(inputs[False]['scored'])}; medians of "
          f"{args.repeats}, as ratios to maha's")
    print("detector | fit / maha fit | score / maha score")
    for name in names:
        fit, score = (float(np.median(seconds[name][k])) for k in ("fit", "score"))
        print(f"{name} | {fit / base['fit']:.2f} | {score / base['score']:.2f}")


if __name__ == "__main__":
    main()
