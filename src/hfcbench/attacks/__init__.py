"""Targeted L-inf attacks; ``ATTACKS`` names them, ``build_attack`` composes them.

Base attacks are :class:`Attack` subclasses (``fgsm``, ``bim``, ``pgd``, ``mim``, ``tim``,
``cw``). Adaptive attacks are loss terms with ``from_context`` (``hfc``, ``random``,
``closest``, ``kde``, ``lid``, and the detector-aware ``joint``, ``selective``, ``orthogonal``):
alone they run on BIM (the paper's setting, Table II), and ``base+term`` adds the term to any
base attack, e.g. ``mim+hfc``. ``apgd`` and ``apgd-ce`` are APGD's step rule (Croce & Hein 2020);
``auto`` is the parameter-free ensemble of APGD arms against the detector under evaluation.
"""

from __future__ import annotations

from ..errors import HfcbenchError
from ..registry import Registry
from .base import Attack, AttackResult, LossTerm

ATTACKS: Registry = Registry("attacks", {
    "fgsm": "hfcbench.attacks.fgsm:FGSM",
    "bim": "hfcbench.attacks.bim:BIM",
    "pgd": "hfcbench.attacks.pgd:PGD",
    "mim": "hfcbench.attacks.mim:MIM",
    "tim": "hfcbench.attacks.tim:TIM",
    "cw": "hfcbench.attacks.cw:CW",
    "apgd": "hfcbench.attacks.apgd:APGD",
    "apgd-ce": "hfcbench.attacks.apgd:APGDCE",
    "hfc": "hfcbench.attacks.adaptive.hfc:HFCTerm",
    "random": "hfcbench.attacks.adaptive.guide:RandomGuide",
    "closest": "hfcbench.attacks.adaptive.guide:ClosestGuide",
    "kde": "hfcbench.attacks.adaptive.kde:KDETerm",
    "lid": "hfcbench.attacks.adaptive.lid:LIDTerm",
    "joint": "hfcbench.attacks.adaptive.detector:Joint",
    "selective": "hfcbench.attacks.adaptive.detector:Selective",
    "orthogonal": "hfcbench.attacks.adaptive.detector:Orthogonal",
    "auto": "hfcbench.attacks.auto:AutoDetectorAttack",
})
# attacks that adapt to the detector under evaluation: one AE set per (detector, attack)
DETECTOR_AWARE = ("joint", "selective", "orthogonal", "auto")

BASE_ATTACKS = ("fgsm", "bim", "pgd", "mim", "tim", "cw")


def is_base(name: str) -> bool:
    obj = ATTACKS.get(name)
    return isinstance(obj, type) and issubclass(obj, Attack)


def is_detector_aware(spec: str) -> bool:
    """Whether attack ``spec`` (e.g. ``"pgd+orthogonal"``) attacks the detector under evaluation."""
    from .adaptive.detector import DetectorTerm

    return spec.strip() == "auto" or any(isinstance(obj, type) and issubclass(obj, DetectorTerm)
                                         for obj in (ATTACKS.get(part.strip()) for part in spec.split("+")))


def build_attack(spec: str, model, *, context=None, term_params: dict | None = None,
                 ready_terms: dict[str, LossTerm] | None = None, **params):
    """An attack from ``spec``: ``"pgd"``, ``"hfc"`` (= BIM + HFC), ``"mim+hfc"``, ...

    ``params`` go to the base attack (eps, alpha, steps, seed, ...); ``term_params`` to the
    add-on terms (e.g. ``{"n_components": 16}``); ``context`` is the
    :class:`~hfcbench.attacks.adaptive.AttackContext` the adaptive terms need;
    ``ready_terms`` gives already-built add-ons by name (e.g. an HFC term of cached mixtures).
    """
    ready_terms = ready_terms or {}
    names = [part.strip().lower() for part in spec.split("+")]
    if names == ["auto"]:  # the arms of the ensemble, each built as any attack
        from .auto import AutoDetectorAttack, arm_budgets

        version, steps = params.pop("version", "standard"), params.pop("steps", None)
        calibration, done = params.pop("calibration", None), params.pop("done", None)
        params.pop("alpha", None)  # APGD sets its own step sizes
        arms = {arm: build_attack(arm, model, context=context, term_params=term_params, ready_terms=ready_terms,
                                  **params, **budget) for arm, budget in arm_budgets(version, steps).items()}
        return AutoDetectorAttack(model, arms, context.detector, calibration=calibration, done=done)
    base_name = names[0] if is_base(names[0]) else "bim"
    add_ons = names[1:] if is_base(names[0]) else names
    terms = []
    for name in add_ons:
        if is_base(name):
            raise HfcbenchError(f"attack {spec!r}: {name!r} is a base attack; only one base attack can lead, "
                                "followed by add-ons such as '+hfc'")
        if name in ready_terms:
            terms.append(ready_terms[name])
        else:
            terms.append(ATTACKS.get(name).from_context(context, seed=params.get("seed", 0), **(term_params or {})))
    return ATTACKS.get(base_name)(model, terms=terms, **params)


__all__ = ["ATTACKS", "BASE_ATTACKS", "DETECTOR_AWARE", "Attack", "AttackResult", "LossTerm", "build_attack",
           "is_base", "is_detector_aware"]
