"""The numbers of one record: a (fit attack, attack, detector) cell, or a detector's per-image
worst case over the attacks it faced, computed from a run's :class:`~.artifacts.Artifacts`.

A detector-aware attack against a detector without ``torch_score`` is not run: its cell keeps the
before metrics and says it was not adaptively attacked. A detector-aware attack's AE set carries
its strength checks (per-step trace, success when freed of its budget) and the warnings they call
for.
"""

from __future__ import annotations

import numpy as np

from ..attacks.adaptive.detector import attackable
from ..errors import HfcbenchError
from ..results import NOT_ADAPTIVE
from ..stats.cell import cell_metrics
from ..stats.metrics import success_rate
from .artifacts import Artifacts
from .worst_case import per_image_worst


def failed(exc: Exception) -> dict:
    """The metrics of a cell that could not be computed: the error (type and message), no numbers."""
    text = str(exc) if isinstance(exc, HfcbenchError) else f"{type(exc).__name__}: {exc}"
    return {"error": text, **dict.fromkeys(("auc_before", "auc_after", "tpr90_before", "tpr90_after", "evasion5"))}


def cell(art: Artifacts, name: str, fit_attack: str, attack: str) -> tuple[dict, dict]:
    """Metrics of one (fit attack, attack, detector) cell and the record's extra fields."""
    against = art.against(name, fit_attack, attack)
    adaptive = against is None or attackable(art.fitted_detector(name, fit_attack))
    scores = art.detector_scores(name, fit_attack, attack if adaptive else fit_attack)
    if not adaptive:
        scores["after"], scores["after_source"] = np.empty(0), np.empty(0, dtype=np.int64)
    metrics, per_image = cell_metrics(scores["clean"], scores["before"], scores["before_source"], scores["after"],
                                      scores["after_source"], calibration=art.calibration_scores(name, fit_attack),
                                      seed=art.config.seed)
    metrics["adv_acc_before"] = success_rate(art.adversarial(fit_attack, "advtest")[1])
    if not adaptive:  # nothing was crafted against it: no after number, not even an evasion of 0
        metrics.update({k: None for k in metrics if k.startswith("evasion5") and not k.startswith("evasion5_before")},
                       adv_acc_after=None)
        per_image.pop("evaded5", None)
        return metrics, {"status": NOT_ADAPTIVE, "per_image": per_image}
    metrics["adv_acc_after"] = success_rate(art.adversarial(attack, "advtest", against)[1])
    extra = strength_checks(art, attack, against, scores) if against else {}
    return metrics, {**extra, "per_image": per_image}


def strength_checks(art: Artifacts, attack: str, against: tuple[str, str], scores: dict) -> dict:
    """The AE set's trace and unbounded success, and the warnings they call for: the attack left
    the detector's scores no lower than plain BIM's (gradient masking, or a broken gradient?),
    or it does not reach 100% success at eps = 1 (Carlini's sanity check)."""
    trace, unbounded = art.aes_state(attack, "advtest", against)["trace"], art.unbounded_success(attack, against)
    warnings = []
    if len(scores["after"]) and len(scores["before"]) and scores["after"].mean() >= scores["before"].mean():
        warnings.append(f"{attack} left {against[0]}'s scores no lower than {against[1]} did (mean "
                        f"{scores['after'].mean():.3g} vs {scores['before'].mean():.3g}): gradient masking or a "
                        "broken gradient?")
    if unbounded < 1:
        warnings.append(f"unbounded (eps = 1, 4x the steps), {attack} fooled the classifier on only "
                        f"{100 * unbounded:.0f}% of 16 images (it should reach 100%)")
    return {"checks": {"unbounded_success": unbounded, "trace": trace}, "warnings": warnings}


def faced(art: Artifacts, name: str, fit_attack: str, attacks: list[str]) -> list[str]:
    """The ``attacks`` that ran against the fitted detector: a detector without ``torch_score``
    faced no detector-aware attack. (One that failed to fit keeps them all: its worst case then
    records the same error as its other cells.)"""
    try:
        adaptive = attackable(art.fitted_detector(name, fit_attack))
    except Exception:
        return attacks
    return [a for a in attacks if adaptive or not art.against(name, fit_attack, a)]


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
