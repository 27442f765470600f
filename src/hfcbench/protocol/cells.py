"""The numbers of one record: a (fit attack, attack, detector) cell, or a detector's per-image
worst case over the attacks it faced, computed from a run's :class:`~.artifacts.Artifacts`.

A detector-aware attack against a detector without ``torch_score`` is not run: its cell keeps the
before metrics and says it was not adaptively attacked. A detector-aware attack's AE set carries
its strength checks (per-step trace, success when freed of its budget) and the warnings they call
for.
"""

from __future__ import annotations

import numpy as np

from ..attacks import DETECTOR_AWARE
from ..errors import PLUGIN_FAILURES, HfcbenchError, failure_text
from ..results import NOT_ADAPTIVE
from ..stats.cell import TARGET_FPRS, cell_metrics
from ..stats.metrics import auc, success_rate
from ..stats.operating_points import threshold_at_fpr
from .artifacts import Artifacts
from .worst_case import per_image_worst

DETECTOR_TERMS = [a for a in DETECTOR_AWARE if a != "auto"]  # the trace keys of the detector terms


def failed(exc: BaseException) -> dict:
    """The metrics of a cell that could not be computed: the error (type and message), no numbers."""
    text = str(exc) if isinstance(exc, HfcbenchError) else failure_text(exc)
    return {"error": text, **dict.fromkeys(("auc_before", "auc_after", "tpr90_before", "tpr90_after", "evasion5"))}


def cell(art: Artifacts, name: str, fit_attack: str, attack: str) -> tuple[dict, dict]:
    """Metrics of one (fit attack, attack, detector) cell and the record's extra fields."""
    against = art.against(name, fit_attack, attack)
    reason, target = None, {}
    if against:
        try:
            target = art.attack_target(*against)[1]
        except HfcbenchError as exc:  # not even a surrogate: the cell keeps the reason
            reason = str(exc)
    adaptive = reason is None
    scores = art.detector_scores(name, fit_attack, attack if adaptive else fit_attack)
    if not adaptive:
        scores["after"], scores["after_source"] = np.empty(0), np.empty(0, dtype=np.int64)
    metrics, per_image = cell_metrics(scores["clean"], scores["before"], scores["before_source"], scores["after"],
                                      scores["after_source"], calibration=art.calibration_scores(name, fit_attack),
                                      seed=art.config.seed)
    metrics["adv_acc_before"] = success_rate(art.adversarial(fit_attack, "advtest")[1])
    if not adaptive:  # nothing was crafted against it: no after number, not even an evasion of 0
        metrics.update({f"evasion5{part}": None for part in ("", "_ci_low", "_ci_high", "_se")}, adv_acc_after=None)
        per_image.pop("evaded5", None)
        return metrics, {"status": NOT_ADAPTIVE, "reason": reason, "per_image": per_image}
    metrics["adv_acc_after"] = success_rate(art.adversarial(attack, "advtest", against)[1])
    extra: dict = {"per_image": per_image}
    if against is not None:
        extra.update(strength_checks(art, attack, against, scores, metrics), target=target)
        if attack == "auto":
            extra["auto"] = {"version": art.config.auto_version,
                             "worst_by": art.aes_state(attack, "advtest", against)["worst_by"]}
    return metrics, extra


def strength_checks(art: Artifacts, attack: str, against: tuple[str, str], scores: dict, metrics: dict) -> dict:
    """The AE set's trace and the unbounded check, and the warnings they call for (AutoAttack's
    flags, for detectors): the attack left the detector's median score no lower than the fit
    attack's (gradient masking, or a broken gradient?); freed of its budget it does not fool the
    classifier on every image, or does not evade the detector (AUC on its AEs not below 0.1 and
    evasion at 5% FPR not above 90%); the detector term still falling over the last 10% of the
    steps (not converged); zero or non-finite gradients; scores that differ between two calls of a
    detector not declared stochastic; an AUC below chance beyond its interval (the attack
    overshoots)."""
    name, fit_attack = against
    trace = art.aes_state(attack, "advtest", against)["trace"]
    unbounded = art.unbounded(attack, against)
    success = unbounded["success"].numpy()
    warnings = []
    if len(scores["after"]) and len(scores["before"]) and np.median(scores["after"]) >= np.median(scores["before"]):
        warnings.append(f"{attack} left {name}'s median score no lower than {fit_attack} did "
                        f"({np.median(scores['after']):.3g} vs {np.median(scores['before']):.3g}): gradient masking "
                        "or a broken gradient?")
    if success.mean() < 1:
        how = "100 APGD iterations per arm" if attack == "auto" else "4x the steps"
        warnings.append(f"unbounded (eps = 1, {how}), {attack} fooled the classifier on only "
                        f"{100 * success.mean():.0f}% of {len(success)} images (it should reach 100%)")
    evasion = unbounded_evasion(art, name, fit_attack, unbounded["adv"], success, scores["clean"])
    if evasion["auc"] is not None and evasion["auc"] >= 0.1 and evasion["evasion5"] <= 0.9:
        warnings.append(f"unbounded, {attack} does not evade {name}: AUC {100 * evasion['auc']:.1f} on its AEs (it "
                        f"should fall below 10) and evasion {100 * evasion['evasion5']:.0f}% at 5% FPR (it should pass "
                        "90%): a weak attack, or a detector no attacker can evade?")
    warnings += trace_flags(attack, trace)
    target = art.attack_target(name, fit_attack)[1]
    rho = target.get("spearman_heldout")
    if target["adaptive"] == "surrogate" and (rho is None or rho < 0.2):
        warnings.append(f"the surrogate's gradient estimate barely predicts {name}'s score changes (held-out Spearman "
                        f"{rho}): its AEs may understate what an attacker achieves")
    detector = art.fitted_detector(name, fit_attack)
    if not detector.stochastic and not np.allclose(second_call(art, name, fit_attack), scores["clean"][:RECHECKED],
                                                   rtol=1e-6, atol=1e-9):
        warnings.append(f"{name} gave other scores on the same clean images at a second call: declare it stochastic "
                        "(attacks then average its gradient over fresh draws)")
    if metrics.get("auc_after_ci_high") is not None and metrics["auc_after_ci_high"] < 0.5:
        warnings.append(f"{name}'s AUC after {attack} lies below chance beyond its interval: the attack overshoots "
                        "(a two-sided score would catch its AEs)")
    return {"checks": {"unbounded_success": float(success.mean()), "unbounded_evasion": evasion, "trace": trace},
            "warnings": warnings}


RECHECKED = 32  # clean images a detector scores a second time (is it deterministic, as declared?)


def second_call(art: Artifacts, name: str, fit_attack: str) -> np.ndarray:
    """The fitted detector's scores of the first :data:`RECHECKED` AdvTest clean images, from a
    second call (their full maps extracted again for a detector that reads maps: only these)."""
    images, labels, _ = art.pool("advtest")
    rows = slice(0, RECHECKED)
    feats = (art.map_features(images[rows], labels[rows]) if art.needs_maps(name)
             else art.clean_features("advtest").subset(np.arange(min(RECHECKED, len(images)))))
    return art.fitted_detector(name, fit_attack).score(feats)


def unbounded_evasion(art: Artifacts, name: str, fit_attack: str, adv, success: np.ndarray,
                      clean_scores: np.ndarray) -> dict:
    """AUC (clean AdvTest against the unbounded attack's successful AEs) and the share of the
    attacked images whose AE fools the classifier and passes the 5%-FPR threshold."""
    rows = np.flatnonzero(success)
    if not len(rows):
        return {"auc": None, "evasion5": 0.0}
    feats = art.map_features(adv[rows], None) if art.needs_maps(name) else art.extractor.extract(adv[rows], None)
    scores = art.fitted_detector(name, fit_attack).score(feats)
    threshold = threshold_at_fpr(art.calibration_scores(name, fit_attack), TARGET_FPRS["fpr5"])
    return {"auc": auc(clean_scores, scores), "evasion5": float((scores <= threshold).sum() / len(success))}


def trace_flags(attack: str, trace) -> list[str]:
    """Warnings from an AE set's per-step trace (one list, or one per arm of ``auto``): the
    detector term's best value still falling over the last 10% of a run (a batch, restart or
    lambda round: the trace marks where each begins), zero gradients on over 10% of the inputs at
    any step, non-finite gradients."""
    traces = trace if isinstance(trace, dict) else {attack: trace or []}
    out = []
    for arm, steps in traces.items():
        runs: list[list[dict]] = []
        current: list[dict] = []
        for step in steps:
            if step.get("run_start") and current:
                runs.append(current)
                current = []
            current.append(step)
        runs += [current] if current else []
        for term in [k for k in (steps[0] if steps else {}) if k in DETECTOR_TERMS]:
            for run in runs:
                best = np.minimum.accumulate([s[term] for s in run if term in s])
                cut = int(0.9 * len(best))
                if len(best) >= 10 and best[-1] < best[cut - 1] - 0.01 * (best[0] - best[-1] + 1e-12):
                    out.append(f"{arm}: the detector term's best value was still falling over the last 10% of the "
                               "steps (not converged: more steps may hide the AEs better)")
                    break
        if any(s.get("nonfinite_gradient", 0) > 0 for s in steps):
            out.append(f"{arm}: non-finite gradients at some steps")
        worst = max((s.get("zero_gradient", 0) for s in steps), default=0)
        if worst > 0.1:
            out.append(f"{arm}: a zero gradient on {100 * worst:.0f}% of the inputs at some step (a flat or masked "
                       "loss, or a piecewise-constant detector score)")
    return sorted(set(out), key=out.index)


def faced(art: Artifacts, name: str, fit_attack: str, attacks: list[str]) -> list[str]:
    """The ``attacks`` that ran against the fitted detector: detector-aware ones only where it can
    be attacked (itself, its EOT average or a surrogate). (One that failed to fit keeps them all:
    its worst case then records the same error as its other cells.)"""
    try:
        art.fitted_detector(name, fit_attack)
    except PLUGIN_FAILURES:
        return attacks
    try:
        art.attack_target(name, fit_attack)
        return attacks
    except PLUGIN_FAILURES:  # no surrogate (or the plugin failed while one was fitted): its cells record why
        return [a for a in attacks if not art.against(name, fit_attack, a)]


def worst_case(art: Artifacts, name: str, fit_attack: str, attacks: list[str]) -> tuple[dict, dict]:
    """Per image, the successful AE the detector scores lowest over ``attacks`` (MEAD); the fit
    attack is among them, so its own AEs count. ``before`` stays the fit attack's AEs."""
    parts, scores = {}, {}
    for attack in attacks:
        scores = art.detector_scores(name, fit_attack, attack)
        parts[attack] = (scores["after"], scores["after_source"])
    worst, sources, winners = per_image_worst(parts)
    metrics, per_image = cell_metrics(scores["clean"], scores["before"], scores["before_source"], worst, sources,
                                      calibration=art.calibration_scores(name, fit_attack), seed=art.config.seed)
    metrics.update(adv_acc_before=success_rate(art.adversarial(fit_attack, "advtest")[1]),
                   adv_acc_after=len(sources) / len(scores["clean"]))
    return metrics, {"worst_of": attacks, "worst_by": winners, "per_image": per_image}
