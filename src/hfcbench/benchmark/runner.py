"""``hfcbench run``: every (fit attack, evaluated attack) pair against every detector.

Protocol (paper Sec. V-A): train or load the classifier; drop misclassified test images; split
AdvTrain/AdvTest. For each base attack ("fit attack") the detectors are fitted on AdvTrain clean
features against the features of that attack's successful AEs; each detector then scores AdvTest
clean inputs against the successful AEs of the base attack (*before*) and of the adaptive attack
(*after*): ``hfc`` against each base attack's HFC version (Table I), the feature-guide, KDE- and
LID-aware attacks against BIM-fitted detectors (Table II).

Every expensive intermediate (checkpoint, reference features, mixtures, AEs and their features)
is cached under a content key, and each finished record is appended to ``results.jsonl`` at
once, so a run killed at any point and started again recomputes nothing that finished.
"""

from __future__ import annotations

import platform
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .. import __version__
from ..attacks import ATTACKS, BASE_ATTACKS, build_attack, is_base
from ..attacks.adaptive import AttackContext
from ..attacks.adaptive.hfc import HFCTerm
from ..cache import Cache, content_key
from ..datasets import load_dataset
from ..detectors import DETECTORS
from ..device import resolve_device
from ..errors import HfcbenchError, InvalidParameterError
from ..gmm import GaussianMixture
from ..models import DEFAULT_MODEL, FeatureExtractor, Features
from ..models.training import TrainConfig
from ..models.zoo import load_or_train
from .metrics import auc, success_rate, tpr_at_tnr
from .protocol import protocol_split
from .results import append_record, read_records, record_key

PROFILES = {
    # a tiny run for tests: seconds of training, few samples, few steps
    "smoke": dict(model="resnet8", epochs=2, limit=120, eps=8 / 256, alpha=1 / 256, steps=8, gmm_components=2),
    # the CPU default
    "quick": dict(model=None, epochs=15, limit=None, eps=8 / 256, alpha=1 / 256, steps=16, gmm_components=16),
    # the paper's hyper-parameters (Sec. V-A): eps 1/256, alpha 0.02/256, T = 2 eps / alpha
    "paper": dict(model=None, epochs=15, limit=None, eps=1 / 256, alpha=0.02 / 256, steps=100, gmm_components=16),
}
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
    eps: float | None = None
    alpha: float | None = None
    steps: int | None = None
    epochs: int | None = None
    limit: int | None = None
    gmm_components: int | None = None
    seed: int = 0
    device: str = "auto"
    batch_size: int = 64
    out: str = "hfcbench-results"
    data_dir: str | None = None
    cache_dir: str | None = None
    no_cache: bool = False
    quiet: bool = False
    plugins: list[str] = field(default_factory=list)

    def resolved(self) -> "RunConfig":
        """Profile defaults filled in for every parameter left unset."""
        if self.profile not in PROFILES:
            raise InvalidParameterError(f"--profile must be one of {', '.join(PROFILES)}, got {self.profile!r}")
        filled = {k: v for k, v in PROFILES[self.profile].items() if getattr(self, k) is None}
        config = replace(self, **filled)
        if not 0 < config.eps <= 1 or not 0 < config.alpha <= 1 or config.steps < 1:
            raise InvalidParameterError(f"need 0 < eps <= 1, 0 < alpha <= 1, steps >= 1; got eps={config.eps}, "
                                        f"alpha={config.alpha}, steps={config.steps}")
        return config


def attack_pairs(attacks: str, fit_attacks: list[str]) -> list[tuple[str, str]]:
    """``(fit attack, evaluated attack)`` pairs for ``--attacks``.

    ``hfc`` -> each fit attack with its HFC version; ``random``/``closest``/``kde``/``lid`` -> BIM
    with that attack; ``b+term`` -> ``b`` with it; a base attack ``b`` -> ``b`` with itself.
    ``all`` = every adaptive attack.
    """
    names = ["hfc", *TABLE2_ATTACKS] if attacks.strip().lower() == "all" else \
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


class Runner:
    """Holds the loaded data, model and caches of one run; :meth:`run` yields records."""

    def __init__(self, config: RunConfig):
        self.config = config.resolved()
        c = self.config
        self.cache = Cache(c.cache_dir, enabled=not c.no_cache)
        self.device = resolve_device(c.device)
        self.detector_names = DETECTORS.select(c.detectors)
        fit = [a.strip().lower() for a in c.fit_attacks.split(",") if a.strip()]
        for name in fit:
            if not is_base(name):
                raise InvalidParameterError(f"--fit-attacks takes base attacks ({', '.join(BASE_ATTACKS)}); "
                                            f"{name!r} is not one")
        self.pairs = attack_pairs(c.attacks, fit)
        self.dataset = load_dataset(c.dataset, c.data_dir, quiet=c.quiet)
        self.arch = c.model or DEFAULT_MODEL[self.dataset.spatial_dims]
        self.trained = load_or_train(self.dataset, self.arch, TrainConfig(epochs=c.epochs, seed=c.seed),
                                     cache=self.cache, device=self.device, quiet=c.quiet)
        self.model = self.trained.model
        self.extractor = FeatureExtractor(self.model)
        self.split = protocol_split(self.model, self.dataset.test, seed=c.seed, limit=c.limit)
        self._context: AttackContext | None = None
        self._hfc_mixtures: dict | None = None

    # -- cached pieces ---------------------------------------------------------------------------
    def _key(self, **parts) -> str:
        return content_key(checkpoint=self.trained.key, **parts)

    def features(self, images: torch.Tensor, labels: torch.Tensor, **key_parts) -> Features:
        key = self._key(kind="features", **key_parts)
        state = self.cache.get_or_compute(
            "features", key, lambda: self.extractor.extract(images, labels, progress=not self.config.quiet).to_state())
        return Features.from_state(state)

    def context(self) -> AttackContext:
        """Clean features of the classifier's training images (the adaptive attacks' knowledge)."""
        if self._context is None:
            train = self.dataset.train
            self._context = AttackContext(self.features(train.images, train.labels, part="train"))
        return self._context

    def hfc_mixtures(self) -> dict:
        """Per-layer, per-class mixtures of the HFC term, cached by content key."""
        if self._hfc_mixtures is None:
            c = self.config
            key = self._key(kind="hfc-mixtures", m=c.gmm_components, seed=c.seed)

            def compute():
                term = HFCTerm.from_context(self.context(), n_components=c.gmm_components, seed=c.seed)
                return {layer: {cls: g.to_state() for cls, g in by_class.items()}
                        for layer, by_class in term.mixtures.items()}

            state = self.cache.get_or_compute("mixtures", key, compute)
            self._hfc_mixtures = {layer: {int(cls): GaussianMixture.from_state(s) for cls, s in by_class.items()}
                                  for layer, by_class in state.items()}
        return self._hfc_mixtures

    def pool(self, name: str):
        index = self.split.adv_train if name == "advtrain" else self.split.adv_test
        return self.dataset.test.images[index], self.dataset.test.labels[index], index

    def clean_features(self, pool: str) -> Features:
        images, labels, index = self.pool(pool)
        return self.features(images, labels, part=pool, index=index.tolist())

    def adversarial(self, spec: str, pool: str) -> tuple[Features, np.ndarray, float]:
        """Features of the AEs of ``spec`` on ``pool`` (all of them), their success mask, seconds."""
        c = self.config
        images, labels, index = self.pool(pool)
        key = self._key(kind="aes", spec=spec, pool=pool, index=index.tolist(), eps=c.eps, alpha=c.alpha,
                        steps=c.steps, seed=c.seed, m=c.gmm_components if "hfc" in spec else None)

        def compute():
            start = time.perf_counter()
            attack = self._build(spec)
            advs, targets, successes = [], [], []
            batches = range(0, len(images), c.batch_size)
            for first in tqdm(batches, desc=f"{spec} on {pool}", disable=c.quiet, leave=False):
                result = attack(images[first:first + c.batch_size], labels[first:first + c.batch_size])
                advs.append(result.adv), targets.append(result.target), successes.append(result.success)
            feats = self.extractor.extract(torch.cat(advs), torch.cat(targets))
            return {"features": feats.to_state(), "success": torch.cat(successes),
                    "seconds": time.perf_counter() - start}

        state = self.cache.get_or_compute("aes", key, compute)
        return Features.from_state(state["features"]), state["success"].numpy(), float(state["seconds"])

    def _build(self, spec: str):
        c = self.config
        budget = dict(eps=c.eps, alpha=c.alpha, steps=1 if spec == "fgsm" else c.steps, seed=c.seed)
        parts = spec.split("+")
        ready = {"hfc": HFCTerm(self.hfc_mixtures())} if "hfc" in parts else {}
        needs_context = any(not is_base(p) and p not in ready for p in parts)
        return build_attack(spec, self.model, context=self.context() if needs_context else None, ready_terms=ready,
                            **budget)

    # -- the run ---------------------------------------------------------------------------------
    def run(self, results_path: Path):
        """Append every missing record to ``results_path`` and yield all records of this run."""
        c = self.config
        done = {record_key(r): r for r in read_records([results_path])} if results_path.exists() else {}
        clean_train, clean_test = self.clean_features("advtrain"), self.clean_features("advtest")
        params = {k: v for k, v in asdict(c).items() if k not in ("quiet", "no_cache", "out", "plugins")}
        params.update(arch=self.arch, pool_size=self.split.pool_size, misclassified=self.split.misclassified,
                      adv_train=len(self.split.adv_train), adv_test=len(self.split.adv_test),
                      test_accuracy=self.trained.test_accuracy)
        versions = {"hfcbench": __version__, "torch": torch.__version__, "numpy": np.__version__,
                    "python": platform.python_version()}
        for fit_attack, attack in self.pairs:
            fit_adv, fit_success, _ = self.adversarial(fit_attack, "advtrain")
            before, before_success, before_seconds = self.adversarial(fit_attack, "advtest")
            after, after_success, after_seconds = self.adversarial(attack, "advtest")
            for name in self.detector_names:
                base = dict(dataset=c.dataset, model=self.arch, seed=c.seed, fit_attack=fit_attack, attack=attack,
                            detector=name)
                existing = done.get(record_key(base))
                if existing is not None and existing.get("params") == params:
                    yield existing
                    continue
                start = time.perf_counter()
                metrics = self._score(name, clean_train, fit_adv.subset(np.flatnonzero(fit_success)), clean_test,
                                      before.subset(np.flatnonzero(before_success)),
                                      after.subset(np.flatnonzero(after_success)))
                metrics.update(adv_acc_before=success_rate(before_success), adv_acc_after=success_rate(after_success))
                record = {**base, "metrics": metrics, "params": params, "versions": versions,
                          "device": str(self.device),
                          "timings": {"attack_seconds_before": before_seconds, "attack_seconds_after": after_seconds,
                                      "detector_seconds": time.perf_counter() - start}}
                append_record(results_path, record)
                yield record

    def _score(self, name, clean_train, fit_adv, clean_test, before, after) -> dict:
        out = {"n_clean": len(clean_test), "n_adv_before": len(before), "n_adv_after": len(after)}
        try:
            detector = DETECTORS.get(name)().fit(clean_train, fit_adv)
        except HfcbenchError as exc:
            return {**out, "error": str(exc), **dict.fromkeys(("auc_before", "auc_after", "tpr90_before",
                                                               "tpr90_after"))}
        clean_scores = detector.score(clean_test)
        for tag, feats in (("before", before), ("after", after)):
            if len(feats):
                scores = detector.score(feats)
                out[f"auc_{tag}"], out[f"tpr90_{tag}"] = auc(clean_scores, scores), tpr_at_tnr(clean_scores, scores)
            else:
                out[f"auc_{tag}"] = out[f"tpr90_{tag}"] = None
        return out
