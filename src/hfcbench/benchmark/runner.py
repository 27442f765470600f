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

import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..attacks import BASE_ATTACKS, AttackResult, build_attack, is_base
from ..attacks.adaptive import AttackContext
from ..attacks.adaptive.hfc import HFCTerm
from ..cache import Cache, class_fingerprint, content_key, source_fingerprint
from ..datasets import ImageDataset, load_dataset
from ..detectors import DETECTORS
from ..device import resolve_device
from ..errors import HfcbenchError, InvalidParameterError
from ..gmm import GaussianMixture
from ..isa import describe as describe_platform
from ..models import DEFAULT_MODEL, FeatureExtractor, Features
from ..models.training import TrainConfig
from ..models.zoo import load_or_train
from .config import SMOKE_BY_DIMS, RunConfig, attack_pairs
from .budget import EPS_GRID, BudgetSearch, as_state, from_state, pool_sample, search_budget
from .metrics import auc, success_rate, tpr_at_tnr
from .noise import noisy_copies, perturbation_l2
from .uncertainty import paired_bootstrap
from .per_layer import layer_aucs
from .protocol import protocol_split
from .results import append_record, read_records, record_key

# The hfcbench code that computes each kind of cached object, hashed into its key (the model
# and dataset code enter through the checkpoint key, which every key holds).
CODE = {
    "noisy": ("benchmark.noise", "seeding", "models.features"),
    "budget": ("attacks", "benchmark.budget", "models.features"),
    "features": ("models.features",),
    "hfc-mixtures": ("attacks", "mixtures", "gmm", "linalg", "models.features"),
    "aes": ("attacks", "detectors", "mixtures", "gmm", "linalg", "knn", "seeding", "models.features"),
    "detector": ("detectors", "mixtures", "gmm", "linalg", "knn", "models.features"),
}

BUDGET_SEARCH_POOL = 512  # --eps auto attacks at most this many pool images


class Runner:
    """Holds the loaded data, model and caches of one run; :meth:`run` yields records."""

    def __init__(self, config: RunConfig, *, dataset: ImageDataset | None = None):
        """``dataset`` replaces loading ``config.dataset`` (a derived set, e.g. a downsampled one)."""
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
        self.dataset = dataset or load_dataset(c.dataset, c.data_dir, quiet=c.quiet)
        if c.profile == "smoke":
            model, epochs = SMOKE_BY_DIMS[self.dataset.spatial_dims]
            self.config = c = replace(c, model=c.model or model, epochs=c.epochs or epochs)
        self.arch = c.model or DEFAULT_MODEL[self.dataset.spatial_dims]
        self.trained = load_or_train(self.dataset, self.arch, TrainConfig(epochs=c.epochs, seed=c.seed),
                                     cache=self.cache, device=self.device, quiet=c.quiet)
        self.model = self.trained.model
        self.extractor = FeatureExtractor(self.model)
        self.split = protocol_split(self.model, self.dataset.test, seed=c.seed, limit=c.limit)
        self.budget_search: BudgetSearch | None = None
        if c.eps == "auto":
            self.budget_search = self._search_budget()
            self.config = c = c.with_budget(self.budget_search.eps)
            if not c.quiet:
                print(self.budget_search.describe())
        self._context: AttackContext | None = None
        self._hfc_mixtures: dict | None = None
        self._loaded: dict = {}  # cache entries already read in this run, by (kind, key)

    def _search_budget(self) -> BudgetSearch:
        c, test = self.config, self.dataset.test
        sample = pool_sample(self.split.kept, test.labels.numpy(), BUDGET_SEARCH_POOL, c.seed)
        key = self.cache_key("budget", index=sample.tolist(), steps=c.steps, seed=c.seed, grid=EPS_GRID)
        state = self.cache.get_or_compute("budgets", key, lambda: as_state(search_budget(
            self.model, test.images[sample], test.labels[sample], steps=c.steps, seed=c.seed,
            batch_size=c.batch_size, progress=not c.quiet)))
        return from_state(state)

    # -- cached pieces ---------------------------------------------------------------------------
    def _cached(self, kind: str, key: str, compute, *, pickled: bool = False):
        """``cache.get_or_compute`` read from disk at most once per run: a pair's clean features,
        AEs and fitted detectors are asked for by every detector and plot."""
        if (kind, key) not in self._loaded:
            self._loaded[kind, key] = self.cache.get_or_compute(kind, key, compute, pickled=pickled)
        return self._loaded[kind, key]

    def cache_key(self, kind: str, **parts) -> str:
        """Content key of a ``kind`` object (see ``CODE``) computed from this run's classifier."""
        return content_key(checkpoint=self.trained.key, kind=kind, code=source_fingerprint(*CODE[kind]), **parts)

    def features(self, images: torch.Tensor, labels: torch.Tensor, **key_parts) -> Features:
        key = self.cache_key("features", **key_parts)
        state = self._cached(
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
            key = self.cache_key("hfc-mixtures", m=c.gmm_components, seed=c.seed)

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

    def clean_features(self, pool: str, *, maps: bool = False) -> Features:
        """Features of the clean images of ``pool`` (``maps``: with full maps, see :meth:`map_features`)."""
        images, labels, index = self.pool(pool)
        if maps:
            return self.map_features(images, labels)
        return self.features(images, labels, part=pool, index=index.tolist())

    def map_features(self, images: torch.Tensor, labels: torch.Tensor | None) -> Features:
        """Features with the full maps of every hooked layer, for detectors that require ``"maps"``.
        Computed on demand and never cached: at 28x28 they are ~40x the channel means."""
        return FeatureExtractor(self.model, maps="all").extract(images, labels, progress=not self.config.quiet,
                                                                desc="feature maps")

    def aes_key(self, spec: str, pool: str, **extra) -> str:
        """Content key of the AEs of ``spec`` on ``pool``: every setting that changes them (``extra``:
        e.g. the substitute model of a transfer attack)."""
        c = self.config
        hfc = {"m": c.gmm_components, "hfc_weight": c.hfc_weight} if "hfc" in spec.split("+") else {}
        return self.cache_key("aes", spec=spec, pool=pool, index=self.pool(pool)[2].tolist(), eps=c.eps,
                              alpha=c.alpha, steps=c.steps, seed=c.seed, **hfc, **extra)

    def adversarial(self, spec: str, pool: str) -> tuple[Features, np.ndarray, float]:
        """Features of the AEs of ``spec`` on ``pool`` (all of them), their success mask, seconds."""
        state = self._aes_state(spec, pool)
        return Features.from_state(state["features"]), state["success"].numpy(), float(state["seconds"])

    def adversarial_images(self, spec: str, pool: str) -> torch.Tensor:
        """(N, C, *spatial) AEs of ``spec`` on ``pool``, successful or not, in pool order."""
        return self._aes_state(spec, pool)["adv"]

    def _aes_state(self, spec: str, pool: str) -> dict:
        images, labels, _ = self.pool(pool)

        def compute():
            start = time.perf_counter()
            result = self.craft(self.build(spec), images, labels, desc=f"{spec} on {pool}")
            feats = self.extractor.extract(result.adv, result.target)
            return {"features": feats.to_state(), "success": result.success, "adv": result.adv,
                    "seconds": time.perf_counter() - start}

        return self._cached("aes", self.aes_key(spec, pool), compute)

    def successful(self, spec: str, pool: str, *, maps: bool = False) -> Features:
        """Features of the AEs of ``spec`` on ``pool`` that fooled the classifier (``maps``: with full maps)."""
        feats, success, _ = self.adversarial(spec, pool)
        rows = np.flatnonzero(success)
        if maps:
            return self.map_features(self.adversarial_images(spec, pool)[rows], feats.labels[rows])
        return feats.subset(rows)

    def noisy_features(self, fit_attack: str, *, maps: bool = False) -> Features:
        """Features of noisy copies of the AdvTrain images, with Gaussian noise of the mean L2 norm
        of the successful ``fit_attack`` AEs' perturbations (:mod:`hfcbench.benchmark.noise`);
        that norm is in ``meta["noise_l2"]``."""
        images, labels, index = self.pool("advtrain")
        key = self.cache_key("noisy", aes=self.aes_key(fit_attack, "advtrain"), seed=self.config.seed)

        def compute():
            success = torch.as_tensor(self.adversarial(fit_attack, "advtrain")[1])
            norms = perturbation_l2(images[success], self.adversarial_images(fit_attack, "advtrain")[success])
            l2 = float(norms.mean()) if len(norms) else 0.0
            noisy = noisy_copies(images, l2, seed=self.config.seed, index=index)
            feats = self.extractor.extract(noisy, labels, progress=not self.config.quiet, desc="noisy copies")
            return {"features": feats.to_state(), "images": noisy, "l2": l2}

        state = self._cached("noisy", key, compute)
        feats = self.map_features(state["images"], labels) if maps else Features.from_state(state["features"])
        feats.meta["noise_l2"] = float(state["l2"])
        return feats

    def detector_key(self, name: str, fit_attack: str) -> str:
        """Content key of detector ``name`` fitted against ``fit_attack`` under this run's settings."""
        c = self.config
        return self.cache_key("detector", detector=name, cls=class_fingerprint(DETECTORS.get(name)),
                              clean=self.pool("advtrain")[2].tolist(), adv=self.aes_key(fit_attack, "advtrain"),
                              reference="train", noisy=c.noisy)

    def fitted_detector(self, name: str, fit_attack: str):
        """Detector ``name`` fitted on AdvTrain clean (and, unless ``--no-noisy``, noisy) inputs
        against the successful ``fit_attack`` AEs, with the training-set features as its reference
        (cached). Raises :class:`HfcbenchError` when it cannot be fitted on these features."""
        maps = self.needs_maps(name)

        def fit():
            noisy = self.noisy_features(fit_attack, maps=maps) if self.config.noisy else None
            return DETECTORS.get(name)().fit(self.clean_features("advtrain", maps=maps),
                                             self.successful(fit_attack, "advtrain", maps=maps), noisy,
                                             reference=self.context().reference)

        return self._cached("detectors", self.detector_key(name, fit_attack), fit, pickled=True)

    @staticmethod
    def needs_maps(name: str) -> bool:
        """Whether detector ``name`` reads full feature maps (``"maps"`` in its ``requires``)."""
        return "maps" in DETECTORS.get(name).requires

    def detector_scores(self, name: str, fit_attack: str, attack: str) -> dict[str, np.ndarray]:
        """``{"clean", "before", "after"}`` -> (N,) scores on AdvTest: clean inputs, successful AEs of
        ``fit_attack`` and of ``attack``; higher = more adversarial. ``"before_source"`` and
        ``"after_source"`` give each AE's source image (its position among the clean inputs)."""
        detector, maps = self.fitted_detector(name, fit_attack), self.needs_maps(name)
        parts = {"clean": self.clean_features("advtest", maps=maps),
                 "before": self.successful(fit_attack, "advtest", maps=maps),
                 "after": self.successful(attack, "advtest", maps=maps)}
        scores = {tag: detector.score(feats) if len(feats) else np.empty(0) for tag, feats in parts.items()}
        for tag, spec in (("before", fit_attack), ("after", attack)):
            scores[f"{tag}_source"] = np.flatnonzero(self.adversarial(spec, "advtest")[1])
        return scores

    def layer_aucs(self, name: str, fit_attack: str, attack: str) -> dict[str, dict[str, float | None]]:
        """``{"before"|"after": {characteristic: AUC}}``: each layer's characteristic alone (Fig. 6)."""
        maps = self.needs_maps(name)
        return layer_aucs(self.fitted_detector(name, fit_attack), self.clean_features("advtrain", maps=maps),
                          self.successful(fit_attack, "advtrain", maps=maps), self.clean_features("advtest", maps=maps),
                          {"before": self.successful(fit_attack, "advtest", maps=maps),
                           "after": self.successful(attack, "advtest", maps=maps)})

    def craft(self, attack, images: torch.Tensor, labels: torch.Tensor, *, desc: str = "attack") -> AttackResult:
        """``attack`` on ``images`` in this run's batches, with a progress bar unless quiet."""
        return attack.in_batches(images, labels, batch_size=self.config.batch_size, desc=desc,
                                 progress=not self.config.quiet)

    def build(self, spec: str):
        """The attack ``spec`` (e.g. ``"pgd+hfc"``) on this run's model with its budget and mixtures."""
        c = self.config
        budget = dict(eps=c.eps, alpha=c.alpha, steps=1 if spec == "fgsm" else c.steps, seed=c.seed)
        parts = spec.split("+")
        ready = {"hfc": HFCTerm(self.hfc_mixtures(), scale=c.hfc_weight)} if "hfc" in parts else {}
        needs_context = any(not is_base(p) and p not in ready for p in parts)
        return build_attack(spec, self.model, context=self.context() if needs_context else None, ready_terms=ready,
                            **budget)

    # -- the run ---------------------------------------------------------------------------------
    def run(self, results_path: Path):
        """Append every missing record to ``results_path`` and yield all records of this run."""
        c = self.config
        done = {record_key(r): r for r in read_records([results_path])} if results_path.exists() else {}
        params = {k: v for k, v in asdict(c).items()
                  if k not in ("quiet", "no_cache", "out", "plugins", "seeds", "min_aes")}
        params.update(arch=self.arch, pool_size=self.split.pool_size, misclassified=self.split.misclassified,
                      adv_train=len(self.split.adv_train), adv_test=len(self.split.adv_test),
                      test_accuracy=self.trained.test_accuracy,
                      eps_search=None if self.budget_search is None else as_state(self.budget_search))
        versions = describe_platform()
        bar = tqdm(total=len(self.pairs) * len(self.detector_names), desc="fit and score detectors",
                   disable=c.quiet)
        for fit_attack, attack in self.pairs:
            _, before_success, before_seconds = self.adversarial(fit_attack, "advtest")
            _, after_success, after_seconds = self.adversarial(attack, "advtest")
            for name in self.detector_names:
                bar.set_postfix_str(f"{name}: {fit_attack} -> {attack}")
                bar.update()
                base = dict(dataset=c.dataset, model=self.arch, seed=c.seed, fit_attack=fit_attack, attack=attack,
                            detector=name)
                existing = done.get(record_key({**base, "params": params}))
                if existing is not None and existing.get("params") == params and "error" not in existing["metrics"]:
                    yield existing
                    continue
                start = time.perf_counter()
                metrics = self._metrics(name, fit_attack, attack)
                metrics.update(adv_acc_before=success_rate(before_success), adv_acc_after=success_rate(after_success))
                record = {**base, "metrics": metrics, "params": params, "versions": versions,
                          "device": str(self.device),
                          "timings": {"attack_seconds_before": before_seconds, "attack_seconds_after": after_seconds,
                                      "detector_seconds": time.perf_counter() - start}}
                append_record(results_path, record)
                yield record
        bar.close()

    def _metrics(self, name: str, fit_attack: str, attack: str) -> dict:
        try:
            scores = self.detector_scores(name, fit_attack, attack)
        except HfcbenchError as exc:
            return {"error": str(exc), **dict.fromkeys(("auc_before", "auc_after", "tpr90_before", "tpr90_after"))}
        out = {"n_clean": len(scores["clean"]), "n_adv_before": len(scores["before"]),
               "n_adv_after": len(scores["after"])}
        for tag in ("before", "after"):
            adv = scores[tag]
            out[f"auc_{tag}"] = auc(scores["clean"], adv) if len(adv) else None
            out[f"tpr90_{tag}"] = tpr_at_tnr(scores["clean"], adv) if len(adv) else None
        both = out["auc_before"] is not None and out["auc_after"] is not None
        out["auc_drop"] = out["auc_before"] - out["auc_after"] if both else None
        out.update(paired_bootstrap(scores["clean"], scores["before"], scores["before_source"], scores["after"],
                                    scores["after_source"], seed=self.config.seed))
        return out
