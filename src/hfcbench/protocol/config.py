"""The settings of a run (``RunConfig``), its profiles, and which attack pairs ``--attacks`` means.

Everything here is pure: no data is loaded and nothing is computed, so a configuration can be
built, checked and printed before any work starts. Every option is checked once, by one schema
(:data:`SCHEMA`), whether it came from a flag, a TOML file or a library call: a value of the
wrong type or out of range is refused with a message that names the option, the value and what
is allowed, before any training or attack. Booleans are not numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from typing import Any

from ..attacks import ATTACKS, DETECTOR_AWARE, is_base, is_detector_aware
from ..attacks.auto import VERSIONS as AUTO_VERSIONS
from ..datasets.corruptions import FAMILIES, check_families
from ..errors import InvalidParameterError

MAX_SEED = 2 ** 63 - 1

PROFILES: dict[str, dict[str, Any]] = {
    # a tiny run for tests: seconds of training, few samples, few steps
    "smoke": dict(model=None, epochs=None, limit=120, eps=8 / 256, alpha=1 / 256, steps=8, gmm_components=2,
                  auto_steps=20),
    # the CPU default: the budget found by --eps auto, 16 steps of alpha = 2 eps / 16
    "quick": dict(model=None, epochs=15, limit=None, eps="auto", alpha=None, steps=16,
                  gmm_components=16, auto_steps=100),
    # the paper's hyper-parameters (Sec. V-A): eps 1/256, alpha 0.02/256, T = 2 eps / alpha
    "paper": dict(model=None, epochs=15, limit=None, eps=1 / 256, alpha=0.02 / 256, steps=None,
                  gmm_components=16, auto_steps=100),
}
# the smoke profile's (architecture, epochs) by the data's spatial dims: 2 epochs leave a 3-D model
# predicting one class only
SMOKE_BY_DIMS = {2: ("resnet8", 2), 3: ("resnet8_3d", 4)}
TABLE2_ATTACKS = ("random", "closest", "kde", "lid")


def parse_fraction(text: str) -> float:
    """``"1/256"`` or ``"0.0039"`` -> float (``InvalidParameterError`` otherwise)."""
    try:
        if "/" in text:
            numerator, denominator = text.split("/")
            return float(numerator) / float(denominator)
        return float(text)
    except (ValueError, ZeroDivisionError):
        raise InvalidParameterError(f"{text!r} is not a number or fraction such as 1/256") from None


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _whole(value, minimum: int = 1, maximum: int | None = None) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool) and value >= minimum
            and (maximum is None or value <= maximum))


def _text(value) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _optional(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: value is None or check(value)


def _numbers(value, positive: bool = False) -> bool:
    return (isinstance(value, list) and bool(value) and all(_number(x) for x in value)
            and (not positive or all(x > 0 for x in value)))


def _families(value) -> bool:
    if not isinstance(value, str) or not value.strip():
        return False
    if value.strip().lower() == "auto":
        return True
    try:
        return bool(check_families(part for part in value.split(",") if part.strip()))
    except InvalidParameterError:
        return False


def _window(value) -> bool:
    from ..datasets.imagefolder import parse_window
    from ..errors import DataError

    try:
        return isinstance(value, str) and parse_window(value) is not None
    except DataError:
        return False


# option -> (check, what is allowed)
SCHEMA: dict[str, tuple[Callable[[Any], bool], str]] = {
    "dataset": (_text, "a dataset name (hfcbench list datasets) or imagefolder:PATH"),
    "model": (_optional(_text), "a model name (hfcbench list models) or module:factory"),
    "checkpoint": (_optional(_text), "a state-dict file of the model's trained weights"),
    "layers": (_optional(lambda v: _text(v) and any(part.strip() for part in v.split(","))),
               "a comma list of module names or globs, e.g. layer1.*,layer4.1"),
    "head": (_optional(_text), "the name of the model's final nn.Linear"),
    "mean": (_optional(_numbers), "one number per channel, e.g. 0.485,0.456,0.406"),
    "std": (_optional(lambda v: _numbers(v, positive=True)), "one number > 0 per channel, e.g. 0.229,0.224,0.225"),
    "image_size": (_optional(lambda v: _whole(v, 8, 1024)), "a whole number in [8, 1024] (pixels per axis)"),
    "window": (_optional(_window), "LOW,HIGH with LOW < HIGH, e.g. -1000,400"),
    "detectors": (_text, "'all', a comma list or globs of detector names"),
    "attacks": (_text, "'all' or a comma list of attacks, e.g. hfc,closest"),
    "fit_attacks": (_text, "a comma list of base attacks, e.g. bim,pgd"),
    "profile": (lambda v: v in PROFILES, f"one of {', '.join(PROFILES)}"),
    "eps": (lambda v: v is None or v == "auto" or (_number(v) and 0 < v <= 1),
            "'auto' or a number in (0, 1], e.g. 1/256"),
    "alpha": (_optional(lambda v: _number(v) and 0 < v <= 1), "a number in (0, 1], e.g. 0.02/256"),
    "steps": (_optional(_whole), "a whole number >= 1"),
    "epochs": (_optional(_whole), "a whole number >= 1"),
    "limit": (_optional(lambda v: _whole(v, 10)),
              "a whole number >= 10 (the protocol needs 10 correctly classified images)"),
    "gmm_components": (_optional(_whole), "a whole number >= 1"),
    "auto_steps": (_optional(lambda v: _whole(v, 4)), "a whole number >= 4 (APGD iterations of each arm of auto)"),
    "hfc_weight": (lambda v: _number(v) and v >= 0, "a finite number >= 0 (1 = the paper's lambda_l = 1/C_l)"),
    "noisy": (lambda v: isinstance(v, bool), "true or false"),
    "seed": (lambda v: _whole(v, 0, MAX_SEED), f"a whole number in [0, {MAX_SEED}]"),
    "seeds": (lambda v: isinstance(v, list) and all(_whole(x, 0, MAX_SEED) for x in v) and len(set(v)) == len(v),
              "a list of distinct whole numbers >= 0, e.g. 0,1,2 (seeds = [0, 1, 2] in TOML)"),
    "min_aes": (_whole, "a whole number >= 1"),
    "auto_version": (lambda v: v in AUTO_VERSIONS, "standard or plus (AutoAttack's versions, for --attacks auto)"),
    "benign_shift": (_optional(_families), f"auto or a comma list of corruption families: {', '.join(FAMILIES)}"),
    "device": (_text, "auto, cpu, cuda or cuda:N"),
    "batch_size": (_whole, "a whole number >= 1"),
    "out": (_text, "a folder"),
    "data_dir": (_optional(_text), "a folder"),
    "cache_dir": (_optional(_text), "a folder"),
    "no_cache": (lambda v: isinstance(v, bool), "true or false"),
    "quiet": (lambda v: isinstance(v, bool), "true or false"),
    "plugins": (lambda v: isinstance(v, list) and all(_text(x) for x in v), "a list of module:Class"),
}


# the options a config file (``--config``) and a sweep's grid may set; the rest are flags
FILE_KEYS = ("dataset", "image_size", "window", "model", "checkpoint", "layers", "head", "mean", "std", "detectors",
             "attacks", "fit_attacks", "profile", "eps", "alpha", "steps", "epochs", "limit", "gmm_components",
             "hfc_weight", "noisy", "seed", "seeds", "min_aes", "auto_version", "auto_steps", "device", "batch_size",
             "out", "data_dir", "cache_dir")


def option_name(key: str) -> str:
    """How a user writes option ``key``: its flag and its TOML key."""
    flag = "--no-noisy" if key == "noisy" else "--plugin" if key == "plugins" else f"--{key.replace('_', '-')}"
    return f"{flag} ({key} in a config file)" if key in FILE_KEYS else flag


def check_option(key: str, value) -> None:
    """Refuse ``value`` for option ``key`` unless the schema allows it."""
    check, allowed = SCHEMA[key]
    if not check(value):
        raise InvalidParameterError(f"{option_name(key)} must be {allowed}, got {value!r} ({type(value).__name__})")


@dataclass
class RunConfig:
    """Every parameter of a run; all of it goes into each record and into the cache keys."""

    dataset: str = "pneumoniamnist"
    image_size: int | None = None
    window: str | None = None
    model: str | None = None
    checkpoint: str | None = None
    layers: str | None = None
    head: str | None = None
    mean: list[float] | None = None
    std: list[float] | None = None
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
    auto_steps: int | None = None
    hfc_weight: float = 1.0
    noisy: bool = True
    seed: int = 0
    seeds: list[int] = field(default_factory=list)
    min_aes: int = 20
    auto_version: str = "standard"
    benign_shift: str | None = None
    device: str = "auto"
    batch_size: int = 64
    out: str = "hfcbench-results"
    data_dir: str | None = None
    cache_dir: str | None = None
    no_cache: bool = False
    quiet: bool = False
    plugins: list[str] = field(default_factory=list)

    def __post_init__(self):
        """Every option checked against :data:`SCHEMA`; fractions such as ``"1/256"`` parsed; dataset
        and model names normalised (stripped, lower case), so one dataset never splits in two."""
        for key in ("eps", "alpha"):
            value = getattr(self, key)
            if isinstance(value, str) and not (key == "eps" and value.strip().lower() == "auto"):
                try:
                    setattr(self, key, parse_fraction(value))
                except InvalidParameterError as exc:
                    raise InvalidParameterError(f"{option_name(key)}: {exc}") from None
            elif isinstance(value, str):
                self.eps = "auto"
        for key in ("seeds", "mean", "std"):
            if isinstance(getattr(self, key), tuple):
                setattr(self, key, list(getattr(self, key)))
        for item in fields(self):
            check_option(item.name, getattr(self, item.name))
        if (self.mean is None) != (self.std is None) or (self.mean and len(self.mean) != len(self.std or [])):
            raise InvalidParameterError(f"--mean and --std go together, one value per channel each; got mean "
                                        f"{self.mean} and std {self.std}")
        self.dataset = normalised_dataset(self.dataset)
        if self.model is not None:  # a registry name is case-insensitive; module:factory is Python
            self.model = self.model.strip() if ":" in self.model else self.model.strip().lower()

    def resolved(self) -> RunConfig:
        """Profile defaults filled in for every parameter left unset; with ``eps="auto"`` the
        budget stays open until :meth:`with_budget` is given the searched value.

        An explicit ``eps`` with no explicit ``alpha`` keeps the profile's steps and takes
        ``alpha = 2 eps / steps`` (the profile's own step would not reach the new budget); where
        the profile fixes the step instead (``paper``), the steps follow from ``T = 2 eps / alpha``."""
        profile: dict[str, Any] = dict(PROFILES[self.profile])
        if self.eps is not None and self.alpha is None and profile["steps"] is not None:
            profile["alpha"] = None
        filled = {k: v for k, v in profile.items() if getattr(self, k) is None}
        config = replace(self, **filled)
        if config.eps == "auto":
            if config.steps is None:
                raise InvalidParameterError("--eps auto needs --steps (alpha is then 2 eps / steps)")
            return config
        return config.with_budget(config.eps)

    def for_data(self, spatial_dims: int) -> RunConfig:
        """The configuration for data of ``spatial_dims`` (2 or 3): the smoke profile's model and
        epochs where unset, and ``model`` always named (the default architecture for the dims)."""
        config = self
        if self.profile == "smoke":
            model, epochs = SMOKE_BY_DIMS[spatial_dims]
            config = replace(config, model=config.model or model, epochs=config.epochs or epochs)
        from ..models import DEFAULT_MODEL

        return replace(config, model=config.model or DEFAULT_MODEL[spatial_dims])

    def on_dataset(self, name: str) -> RunConfig:
        """This run on another registered dataset (an experiment's comparison set): a zoo model
        kept, else the default for that data; none of the user's model or image options."""
        from ..models import ZOO

        return replace(self, dataset=name, model=self.model if self.model in ZOO else None, checkpoint=None,
                       layers=None, head=None, mean=None, std=None, image_size=None, window=None)

    def model_choice(self):
        """The :class:`~hfcbench.models.own.ModelChoice` of this run (``model`` must be named:
        :meth:`for_data`)."""
        from ..models.own import ModelChoice

        assert self.model is not None
        mean, std = (None if v is None else tuple(v) for v in (self.mean, self.std))
        return ModelChoice(self.model, self.checkpoint, self.layers, self.head, mean, std)

    def per_seed(self) -> list[RunConfig]:
        """One configuration per seed of ``seeds`` (``[seed]`` when empty), each a whole protocol:
        its own classifier, split, targets and attacks."""
        return [replace(self, seed=s, seeds=[]) for s in (self.seeds or [self.seed])]

    def with_budget(self, eps) -> RunConfig:
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


def normalised_dataset(name: str) -> str:
    """A registry name stripped and in lower case; ``imagefolder:PATH`` keeps its path as given."""
    name = name.strip()
    prefix, sep, path = name.partition(":")
    return f"{prefix.lower()}:{path}" if sep and prefix.lower() == "imagefolder" else name.lower()


def fit_attack_names(fit_attacks: str) -> list[str]:
    """``--fit-attacks`` as a list of base attack names, in order; any other name refused (run,
    validate and a sweep's check of its points share this rule)."""
    from ..attacks import BASE_ATTACKS

    names = [a.strip().lower() for a in fit_attacks.split(",") if a.strip()]
    for name in names:
        if not is_base(name):
            raise InvalidParameterError(f"--fit-attacks takes base attacks ({', '.join(BASE_ATTACKS)}); "
                                        f"{name!r} is not one")
    return names


def attack_pairs(attacks: str, fit_attacks: list[str]) -> list[tuple[str, str]]:
    """``(fit attack, evaluated attack)`` pairs for ``--attacks``.

    ``hfc`` -> each fit attack with its HFC version; ``random``/``closest``/``kde``/``lid`` and the
    detector-aware ``joint``/``selective``/``orthogonal`` -> BIM with that attack; ``b+term`` ->
    ``b`` with it; a base attack ``b`` -> ``b`` with itself. ``all`` = every adaptive attack.
    """
    names = ["hfc", *TABLE2_ATTACKS, *DETECTOR_AWARE] if attacks.strip().lower() == "all" else \
        [a.strip().lower() for a in attacks.split(",") if a.strip()]
    if not names:
        raise InvalidParameterError(f"--attacks names no attack ({attacks!r}); give e.g. hfc,closest or all")
    pairs = []
    for name in names:
        parts = [part.strip() for part in name.split("+")]
        for part in parts:
            ATTACKS.get(part)  # unknown names fail here, with suggestions
        repeated = sorted({part for part in parts if parts.count(part) > 1})
        if repeated:
            raise InvalidParameterError(f"attack {name!r} names {', '.join(map(repr, repeated))} twice; give each "
                                        "add-on once (e.g. bim+hfc)")
        if "auto" in parts and len(parts) > 1:
            raise InvalidParameterError(f"attack {name!r}: auto is a whole ensemble of its own and takes no add-on or "
                                        "base attack; give it alone (--attacks auto)")
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
