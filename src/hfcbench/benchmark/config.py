"""The settings of a run (``RunConfig``), its profiles, and which attack pairs ``--attacks`` means.

Everything here is pure: no data is loaded and nothing is computed, so a configuration can be
built, checked and printed before any work starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..attacks import ATTACKS, DETECTOR_AWARE, is_base, is_detector_aware
from ..attacks.adaptive.hfc import check_hfc_weight
from ..errors import InvalidParameterError

PROFILES = {
    # a tiny run for tests: seconds of training, few samples, few steps
    "smoke": dict(model=None, epochs=None, limit=120, eps=8 / 256, alpha=1 / 256, steps=8, gmm_components=2),
    # the CPU default: the budget found by --eps auto, 16 steps of alpha = 2 eps / 16
    "quick": dict(model=None, epochs=15, limit=None, eps="auto", alpha=None, steps=16,
                  gmm_components=16),
    # the paper's hyper-parameters (Sec. V-A): eps 1/256, alpha 0.02/256, T = 2 eps / alpha
    "paper": dict(model=None, epochs=15, limit=None, eps=1 / 256, alpha=0.02 / 256, steps=None,
                  gmm_components=16),
}
# the smoke profile's (architecture, epochs) by the data's spatial dims: 2 epochs leave a 3-D model
# predicting one class only
SMOKE_BY_DIMS = {2: ("resnet8", 2), 3: ("resnet8_3d", 4)}
TABLE2_ATTACKS = ("random", "closest", "kde", "lid")


@dataclass
class RunConfig:
    """Every parameter of a run; all of it goes into each record and into the cache keys."""

    dataset: str = "pneumoniamnist"
    model: str | None = None
    detectors: str = "all"
    attacks: str = "hfc,closest"
    fit_attacks: str = "bim,pgd,mim,tim,cw"
    profile: str = "quick"
    eps: float | str | None = None
    alpha: float | None = None
    steps: int | None = None
    epochs: int | None = None
    limit: int | None = None
    gmm_components: int | None = None
    hfc_weight: float = 1.0
    noisy: bool = True
    seed: int = 0
    seeds: list[int] = field(default_factory=list)
    min_aes: int = 20
    device: str = "auto"
    batch_size: int = 64
    out: str = "hfcbench-results"
    data_dir: str | None = None
    cache_dir: str | None = None
    no_cache: bool = False
    quiet: bool = False
    plugins: list[str] = field(default_factory=list)

    def resolved(self) -> "RunConfig":
        """Profile defaults filled in for every parameter left unset; with ``eps="auto"`` the
        budget stays open until :meth:`with_budget` is given the searched value."""
        if self.profile not in PROFILES:
            raise InvalidParameterError(f"--profile must be one of {', '.join(PROFILES)}, got {self.profile!r}")
        filled = {k: v for k, v in PROFILES[self.profile].items() if getattr(self, k) is None}
        config = replace(self, **filled)
        config._check_ranges()
        if config.eps == "auto":
            if config.steps is None:
                raise InvalidParameterError("--eps auto needs --steps (alpha is then 2 eps / steps)")
            return config
        return config.with_budget(config.eps)

    def _check_ranges(self) -> None:
        """Out-of-range numbers are refused here, before any training or attack."""
        for flag, value in (("--gmm-components", self.gmm_components), ("--epochs", self.epochs),
                            ("--limit", self.limit), ("--batch-size", self.batch_size), ("--min-aes", self.min_aes)):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise InvalidParameterError(f"{flag} must be a whole number >= 1, got {value!r}")
        check_hfc_weight(self.hfc_weight)
        seeds = list(self.seeds)
        if any(isinstance(x, bool) or not isinstance(x, int) or x < 0 for x in seeds) or len(set(seeds)) < len(seeds):
            raise InvalidParameterError(f"--seeds must be distinct whole numbers >= 0 (e.g. 0,1,2), got {self.seeds!r}")

    def per_seed(self) -> list["RunConfig"]:
        """One configuration per seed of ``seeds`` (``[seed]`` when empty), each a whole protocol:
        its own classifier, split, targets and attacks."""
        return [replace(self, seed=s, seeds=[]) for s in (self.seeds or [self.seed])]

    def with_budget(self, eps) -> "RunConfig":
        """``eps`` set; an unset alpha becomes ``2 eps / steps`` and unset steps ``round(2 eps / alpha)``
        (the paper's ``T = 2 eps / alpha``)."""
        if isinstance(eps, str) or not 0 < eps <= 1:
            raise InvalidParameterError(f"--eps must be 'auto' or in (0, 1] (e.g. 1/256), got {eps!r}")
        if self.alpha is None and self.steps is None:
            raise InvalidParameterError("give --alpha or --steps (the other follows from T = 2 eps / alpha)")
        alpha = 2 * eps / self.steps if self.alpha is None else self.alpha
        steps = max(1, round(2 * eps / alpha)) if self.steps is None else self.steps
        if not 0 < alpha <= 1 or steps < 1:
            raise InvalidParameterError(f"need 0 < alpha <= 1 and steps >= 1; got alpha={alpha}, steps={steps}")
        return replace(self, eps=float(eps), alpha=float(alpha), steps=int(steps))


def attack_pairs(attacks: str, fit_attacks: list[str]) -> list[tuple[str, str]]:
    """``(fit attack, evaluated attack)`` pairs for ``--attacks``.

    ``hfc`` -> each fit attack with its HFC version; ``random``/``closest``/``kde``/``lid`` and the
    detector-aware ``joint``/``selective``/``orthogonal`` -> BIM with that attack; ``b+term`` ->
    ``b`` with it; a base attack ``b`` -> ``b`` with itself. ``all`` = every adaptive attack.
    """
    names = ["hfc", *TABLE2_ATTACKS, *DETECTOR_AWARE] if attacks.strip().lower() == "all" else \
        [a.strip().lower() for a in attacks.split(",") if a.strip()]
    pairs = []
    for name in names:
        parts = name.split("+")
        for part in parts:
            ATTACKS.get(part)  # unknown names fail here, with suggestions
        if name == "hfc":
            pairs += [(b, f"{b}+hfc") for b in fit_attacks]
        elif len(parts) > 1:
            pairs.append((parts[0] if is_base(parts[0]) else "bim", name))
        elif is_base(name):
            pairs.append((name, name))
        else:
            pairs.append(("bim", name))
    return list(dict.fromkeys(pairs))


WORST_CASE, WORST_CASE_PAPER = "worst-case", "worst-case (paper attacks)"


def worst_case_groups(attacks: list[str]) -> list[tuple[str, list[str]]]:
    """The per-image worst cases a fitted detector gets from the ``attacks`` evaluated against it:
    over all of them, and, when some adapt to the detector, over the paper's attacks alone (so
    the tables show what the detector-aware attacks add). None for a single attack."""
    if len(attacks) < 2:
        return []
    groups = [(WORST_CASE, attacks)]
    paper = [a for a in attacks if not is_detector_aware(a)]
    if len(paper) < len(attacks) and paper:
        groups.append((WORST_CASE_PAPER, paper))
    return groups
