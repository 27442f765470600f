"""``--attacks auto`` against the detector-aware attacks and the paper's, side by side in one run.

For every detector: the evasion at 5% FPR and the AUC of (a) the per-image worst case over
``joint``, ``selective``, ``orthogonal`` and the paper's adaptive attacks (with BIM, the fit
attack), and (b) ``auto``, with 95% paired-bootstrap intervals and the paired verdict on the
evasions; the seconds ``auto`` took against the three detector-aware attacks together (a ratio;
``auto``'s arms that do not read the detector are crafted once per run, and counted once);
and, for BU, AUCs of ``auto``'s AEs crafted on BU's bank of masks scored by BU with another seed
and with fresh masks at every call (does the bank overfit?). With ``--opgd-steps N``, also
orthogonal PGD as Bryniarski et al.'s driver runs it (N fixed signed steps of eps / 30, no
schedule; hfcbench's ``orthogonal`` follows their ``attack.py`` step for step) on the same fitted
detectors and images, against ``auto``.

    python benchmarks/auto_strength.py --dataset pneumoniamnist --profile quick --limit 300 [--epochs 4]
        [--opgd-steps 1000]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from hfcbench.detectors.bu import BU
from hfcbench.protocol import cells
from hfcbench.protocol.config import RunConfig
from hfcbench.protocol.runner import Runner
from hfcbench.stats.bootstrap import paired_difference
from hfcbench.stats.metrics import auc

AWARE = ("joint", "selective", "orthogonal")
PAPER = ("bim+hfc", "closest", "random", "kde", "lid")


def interval(metrics: dict, name: str) -> str:
    value, low, high = (metrics.get(f"{name}{s}") for s in ("", "_ci_low", "_ci_high"))
    if value is None:
        return "n/a"
    return f"{100 * value:.1f} [{100 * low:.1f}, {100 * high:.1f}]" if low is not None else f"{100 * value:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="pneumoniamnist")
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--limit", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=None, help="classifier epochs (default: the profile's)")
    parser.add_argument("--out", default="auto-strength")
    parser.add_argument("--opgd-steps", type=int, default=0)
    args = parser.parse_args()
    config = RunConfig(dataset=args.dataset, profile=args.profile, limit=args.limit, epochs=args.epochs,
                       detectors="all", attacks=",".join([*PAPER, *AWARE, "auto"]), fit_attacks="bim", device="cpu",
                       quiet=True, out=args.out)
    start = time.perf_counter()
    run = Runner(config)
    records = {(r["attack"], r["detector"]): r for r in run.run(Path(args.out) / "results.jsonl")}
    print(f"{run.arch} on {args.dataset}, AdvTest {len(run.split.adv_test)} images, eps {256 * run.config.eps:g}/256; "
          f"{time.perf_counter() - start:.0f} s")
    shared = sum(float(state["seconds"]) for state in run.auto_shared_arms("advtest").values())
    attacked = [n for n in run.detector_names if (r := records.get(("auto", n))) is not None
                and "error" not in r["metrics"] and not r.get("status")]
    share = shared / max(len(attacked), 1)  # the arms crafted once per run, counted against each detector
    print(f"auto's arms that do not read the detector: {shared:.0f} s once, {share:.0f} s per attacked detector")
    print("detector | worst over joint,selective,orthogonal + paper: evasion@5% / AUC | auto: evasion@5% / AUC | "
          "auto - worst evasion [paired 95%] | auto s (with its share) / (joint+selective+orthogonal) s")
    total = {"auto": shared, "aware": 0.0}
    for name in run.detector_names:
        auto = records.get(("auto", name))
        if auto is None or "error" in auto["metrics"] or auto.get("status"):
            print(f"{name} | auto not run: {auto and (auto['metrics'].get('error') or auto.get('reason'))}")
            continue
        faced = cells.faced(run, name, "bim", ["bim", *PAPER, *AWARE])
        worst, extra = cells.worst_case(run, name, "bim", faced)
        diff = paired_difference(np.frombuffer(auto["per_image"]["evaded5"].encode(), np.uint8) - 48.0,
                                 np.frombuffer(extra["per_image"]["evaded5"].encode(), np.uint8) - 48.0,
                                 seed=config.seed)
        seconds = {a: float(run.aes_state(a, "advtest", (name, "bim"))["seconds"]) for a in (*AWARE, "auto")}
        seconds["auto"] += share
        total["auto"] += seconds["auto"] - share
        total["aware"] += sum(seconds[a] for a in AWARE)
        print(f"{name} | {interval(worst, 'evasion5')} / {interval(worst, 'auc_after')} | "
              f"{interval(auto['metrics'], 'evasion5')} / {interval(auto['metrics'], 'auc_after')} | "
              f"{100 * diff['value']:+.1f} [{100 * diff['value_ci_low']:+.1f}, {100 * diff['value_ci_high']:+.1f}] | "
              f"{seconds['auto'] / sum(seconds[a] for a in AWARE):.2f} | arms {auto['auto']['worst_by']}")
    print(f"all detectors: auto {total['auto']:.0f} s / joint+selective+orthogonal {total['aware']:.0f} s = "
          f"{total['auto'] / max(total['aware'], 1e-9):.2f}")
    if args.opgd_steps:
        long_orthogonal(run, records, args.opgd_steps, share)
    # BU: auto's AEs, crafted on one bank of masks, scored by other masks
    clean = run.clean_features("advtest")
    feats = run.successful("auto", "advtest", against=("bu", "bim"))
    bank = run.fitted_detector("bu", "bim")
    reference = run.context().reference
    for label, detector in (("the bank attacked (seed 0)", bank),
                            ("another bank (seed 1)", BU(seed=1).fit(clean, clean, reference=reference)),
                            ("fresh masks per call", BU(resample=True).fit(clean, clean, reference=reference))):
        print(f"BU AUC on auto's AEs, {label}: {100 * auc(detector.score(clean), detector.score(feats)):.1f}")


def evaded(run: Runner, name: str, adv, success) -> tuple[np.ndarray, float]:
    """Per AdvTest image whether its AE fools the classifier and passes the 5%-FPR threshold, and
    the AUC of the successful AEs against the clean images, by the real detector."""
    from hfcbench.stats.operating_points import threshold_at_fpr

    rows = np.flatnonzero(success.numpy())
    feats = run.map_features(adv[rows], None) if run.needs_maps(name) else run.extractor.extract(adv[rows], None)
    detector = run.fitted_detector(name, "bim")
    scores = detector.score(feats)
    clean = detector.score(run.clean_features("advtest", maps=run.needs_maps(name)))
    hidden = np.zeros(len(success))
    hidden[rows] = scores <= threshold_at_fpr(run.calibration_scores(name, "bim"), 0.05)
    return hidden, auc(clean, scores) if len(rows) else float("nan")


def long_orthogonal(run: Runner, records: dict, steps: int, share: float) -> None:
    from hfcbench.attacks import build_attack
    from hfcbench.attacks.adaptive import AttackContext

    images, labels, _ = run.pool("advtest")
    print(f"detector | orthogonal, {steps} steps of eps/30: evasion@5% / AUC | auto: evasion@5% / AUC | "
          "auto - orthogonal evasion [paired 95%] | auto s / orthogonal s")
    for name in run.detector_names:
        auto = records.get(("auto", name))
        if auto is None or "error" in auto["metrics"] or auto.get("status"):
            continue
        context = AttackContext(run.context().reference, detector=run.attack_target(name, "bim")[0],
                                detector_scale=run.detector_scale(name, "bim"))
        start = time.perf_counter()
        attack = build_attack("orthogonal", run.model, context=context, eps=run.config.eps,
                              alpha=run.config.eps / 30, steps=steps, seed=run.config.seed)
        result = attack.in_batches(images, labels, batch_size=run.config.batch_size)
        seconds = time.perf_counter() - start
        hidden, value = evaded(run, name, result.adv, result.success)
        mine = np.frombuffer(auto["per_image"]["evaded5"].encode(), np.uint8) - 48.0
        diff = paired_difference(mine, hidden, seed=run.config.seed)
        auto_seconds = float(run.aes_state("auto", "advtest", (name, "bim"))["seconds"]) + share
        print(f"{name} | {100 * hidden.mean():.1f} / {100 * value:.1f} | {100 * mine.mean():.1f} / "
              f"{100 * auto['metrics']['auc_after']:.1f} | {100 * diff['value']:+.1f} "
              f"[{100 * diff['value_ci_low']:+.1f}, {100 * diff['value_ci_high']:+.1f}] | {auto_seconds / seconds:.2f}")


if __name__ == "__main__":
    main()
