"""Every expensive intermediate of one run, each computed once and cached under a content key.

Protocol (paper Sec. V-A): train or load the classifier; drop misclassified test images; split
AdvTrain/AdvTest (:mod:`.split`); under ``--eps auto`` search the budget (:mod:`.budget`). Then,
on demand: clean and adversarial features of each pool, the successful AEs of each attack (a
detector-aware attack crafts one set per fitted detector), noisy copies (:mod:`.noise`),
detectors fitted on AdvTrain, and their scores on AdvTest. A run killed at any point and started
again recomputes nothing that finished.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from ..attacks import AttackResult, LossTerm, build_attack, is_base, is_detector_aware
from ..attacks.adaptive import AttackContext
from ..attacks.adaptive.detector import attackable
from ..attacks.adaptive.hfc import HFCTerm
from ..attacks.auto import arm_budgets
from ..cache import Cache, class_fingerprint, content_key, source_fingerprint
from ..datasets import ImageDataset, load_dataset
from ..datasets.corruptions import chosen_families
from ..detectors import DETECTORS
from ..detectors.wrappers import EOT, Surrogate
from ..device import resolve_device
from ..gmm import GaussianMixture
from ..models import FeatureExtractor, Features
from ..models.training import TrainConfig
from ..models.zoo import load_classifier
from ..paths import writable_dir
from .budget import EPS_GRID, BudgetSearch, as_state, from_state, pool_sample, search_budget
from .config import RunConfig, attack_pairs, fit_attack_names
from .noise import noisy_copies, perturbation_l2
from .per_layer import layer_aucs
from .split import check_pool, protocol_split
from .stages import Stages

# and dataset code enter through the checkpoint key, which every key holds).
CODE = {
    "noisy": ("protocol.noise", "seeding", "models.features"),
    "budget": ("attacks", "protocol.budget", "models.features", "models.fast"),
    "features": ("models.features",),
    "hfc-mixtures": ("attacks", "mixtures", "gmm", "linalg", "models.features"),
    "aes": ("attacks", "detectors", "mixtures", "gmm", "linalg", "knn", "seeding", "models.features", "models.fast"),
    "detector": ("detectors", "mixtures", "gmm", "linalg", "knn", "models.features"),
    "checks": ("attacks", "detectors", "mixtures", "gmm", "linalg", "knn", "seeding", "models.features",
               "models.fast", "protocol.cells"),
}

BUDGET_SEARCH_POOL = 512  # --eps auto attacks at most this many pool images
Against = tuple[str, str] | None  # (detector, fit attack) a detector-aware attack is crafted against


class Artifacts:
    """The loaded data, classifier, split and budget of one run, and every expensive intermediate
    computed from them (features, AE sets, noisy copies, fitted detectors, their scores), each
    cached under a content key. :class:`~hfcbench.protocol.runner.Runner` turns them into records."""

    def __init__(self, config: RunConfig, *, dataset: ImageDataset | None = None):
        """``dataset`` replaces loading ``config.dataset`` (a derived set, e.g. a downsampled one)."""
        self.config = config.resolved()
        c = self.config
        self.cache = Cache(c.cache_dir, enabled=not c.no_cache)
        writable_dir(self.cache.root, "--cache-dir")  # before any training: the checkpoint goes there
        self.device = resolve_device(c.device)
        self.detector_names = DETECTORS.select(c.detectors)
        fit = fit_attack_names(c.fit_attacks)
        self.fit_attacks = fit
        self.pairs = attack_pairs(c.attacks, fit)
        # load, train, [budget search], cells, worst cases, [benign shift]
        self.stages = Stages(4 + (c.eps == "auto") + bool(c.benign_shift), quiet=c.quiet)
        self.stages.start(f"load {c.dataset}")
        self.dataset = dataset or load_dataset(c.dataset, c.data_dir, quiet=c.quiet, image_size=c.image_size,
                                               window=c.window)
        if not c.quiet and self.dataset.note:
            print(f"data: {self.dataset.name}: {self.dataset.note}")
        check_pool(self.dataset.test, c.limit, self.dataset.name)
        self.config = c = c.for_data(self.dataset.spatial_dims)
        self.benign_families: list[str] = []
        self.benign_note: str | None = None
        if c.benign_shift:  # checked before any training
            self.benign_families, self.benign_note = chosen_families(c.benign_shift, c.dataset,
                                                                     self.dataset.spatial_dims)
            if self.benign_note and not c.quiet:
                print(f"benign shift: {self.benign_note}")
        assert c.model is not None and c.epochs is not None  # for_data and the profile fill them
        self.arch: str = c.model
        self.stages.start(f"train or load the classifier ({c.model})")
        self.trained = load_classifier(self.dataset, c.model_choice(), TrainConfig(epochs=c.epochs, seed=c.seed),
                                       cache=self.cache, device=self.device, quiet=c.quiet)
        self.model = self.trained.model
        self.extractor = FeatureExtractor(self.model)
        self.split = protocol_split(self.model, self.dataset.test, seed=c.seed, limit=c.limit)
        self.budget_search: BudgetSearch | None = None
        if c.eps == "auto":
            self.stages.start("search the budget (--eps auto)")
            self.budget_search = self._search_budget()
            self.config = c = c.with_budget(self.budget_search.eps)
            if not c.quiet:
                print(self.budget_search.describe())
        self._context: AttackContext | None = None
        self._hfc_mixtures: dict | None = None
        self._loaded: dict = {}  # cache entries already read in this run, by (kind, key)
        self.failures: dict[str, str] = {}  # detector -> its first error in this run

    def _search_budget(self) -> BudgetSearch:
        c, test = self.config, self.dataset.test
        steps = c.steps
        assert steps is not None  # --eps auto needs --steps (RunConfig.resolved)
        sample = pool_sample(self.split.kept, test.labels.numpy(), BUDGET_SEARCH_POOL, c.seed)
        key = self.cache_key("budget", index=sample.tolist(), steps=steps, seed=c.seed, grid=EPS_GRID)
        state = self.cache.get_or_compute("budgets", key, lambda: as_state(search_budget(
            self.model, test.images[sample], test.labels[sample], steps=steps, seed=c.seed,
            batch_size=c.batch_size, progress=not c.quiet)))
        return from_state(state)

    # -- cached pieces ---------------------------------------------------------------------------
    def _cached(self, kind: str, key: str, compute, *, pickled: bool = False):
        """``cache.get_or_compute`` read from disk at most once per run: a pair's clean features,
        AEs and fitted detectors are asked for by every detector and plot."""
        if (kind, key) not in self._loaded:
            self._loaded[kind, key] = self.cache.get_or_compute(kind, key, compute, pickled=pickled)
        return self._loaded[kind, key]

    def remembered(self, key: tuple, compute):
        """``compute()`` once per run for ``key``, kept in memory only (scores and features that are
        cheap to recompute in a later run but asked for by many cells of this one)."""
        if key not in self._loaded:
            self._loaded[key] = compute()
        return self._loaded[key]

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

    def hfc_term(self) -> HFCTerm:
        """The HFC add-on term on this run's mixtures, weighted by ``--hfc-weight``."""
        return HFCTerm(self.hfc_mixtures(), scale=self.config.hfc_weight)

    def hfc_mixtures(self) -> dict:
        """Per-layer, per-class mixtures of the HFC term, cached by content key."""
        if self._hfc_mixtures is None:
            c = self.config
            key = self.cache_key("hfc-mixtures", m=c.gmm_components, seed=c.seed)
            components = c.gmm_components
            assert components is not None  # every profile sets it

            def compute():
                term = HFCTerm.from_context(self.context(), n_components=components, seed=c.seed)
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
        auto = {"auto_version": c.auto_version, "auto_steps": c.auto_steps, "m": c.gmm_components,
                "hfc_weight": c.hfc_weight} if spec == "auto" else {}
        return self.cache_key("aes", spec=spec, pool=pool, index=self.pool(pool)[2].tolist(), eps=c.eps,
                              alpha=c.alpha, steps=c.steps, seed=c.seed, **hfc, **auto, **extra)

    def adversarial(self, spec: str, pool: str, against: Against = None) -> tuple[Features, np.ndarray, float]:
        """Features of the AEs of ``spec`` on ``pool`` (all of them), their success mask, seconds.
        ``against``: the (detector, fit attack) a detector-aware ``spec`` attacks."""
        state = self.aes_state(spec, pool, against)
        return Features.from_state(state["features"]), state["success"].numpy(), float(state["seconds"])

    def adversarial_images(self, spec: str, pool: str, against: Against = None) -> torch.Tensor:
        """(N, C, *spatial) AEs of ``spec`` on ``pool``, successful or not, in pool order."""
        return self.aes_state(spec, pool, against)["adv"]

    def aes_state(self, spec: str, pool: str, against: Against = None) -> dict:
        """The cached AE set: ``features``, ``success``, ``adv``, ``seconds``; for a detector-aware
        attack also ``trace`` (per step: success rate and each term's mean)."""
        images, labels, _ = self.pool(pool)
        key = self.aes_key(spec, pool, **({"detector": self.detector_key(*against)} if against else {}))

        def compute():
            shared = self.auto_shared_arms(pool) if spec == "auto" else {}  # crafted once, timed on their own
            start = time.perf_counter()
            attack = self.build(spec, against, done={arm: AttackResult(s["adv"], s["target"], s["success"])
                                                     for arm, s in shared.items()})
            attack.trace = [] if against else None
            on = f" against {against[0]}" if against else ""
            result = self.craft(attack, images, labels, desc=f"{spec}{on} on {pool}")
            feats = self.extractor.extract(result.adv, result.target)
            state = {"features": feats.to_state(), "success": result.success, "adv": result.adv,
                     "seconds": time.perf_counter() - start}
            if against:  # auto: one trace per arm, the shared ones too
                state["trace"] = {**{arm: s["trace"] for arm, s in shared.items()}, **attack.trace} if shared \
                    else attack.trace
            if spec == "auto":
                state["worst_by"] = attack.worst_by
            return state

        return self._cached("aes", key, compute)

    def auto_shared_arms(self, pool: str) -> dict[str, dict]:
        """``auto``'s arms that do not read the detector (``apgd+hfc``), crafted once on ``pool``
        for every detector: ``{arm: {"adv", "target", "success", "trace", "seconds"}}`` (cached)."""
        images, labels, index = self.pool(pool)
        c = self.config
        shared = {}
        for arm, budget in arm_budgets(c.auto_version, c.auto_steps).items():
            if is_detector_aware(arm):
                continue
            key = self.cache_key("aes", spec=f"auto:{arm}", pool=pool, index=index.tolist(), eps=c.eps, seed=c.seed,
                                 m=c.gmm_components, hfc_weight=c.hfc_weight, **budget)

            def compute(arm=arm, budget=budget):
                start = time.perf_counter()
                attack = build_attack(arm, self.model, ready_terms={"hfc": self.hfc_term()}, eps=c.eps, seed=c.seed,
                                      **budget)
                attack.trace = []
                result = self.craft(attack, images, labels, desc=f"auto: {arm} on {pool}")
                return {"adv": result.adv, "target": result.target, "success": result.success,
                        "trace": attack.trace, "seconds": time.perf_counter() - start}

            shared[arm] = self._cached("aes", key, compute)
        return shared

    def unbounded(self, spec: str, against: Against = None) -> dict:
        """``spec`` freed of its budget (eps = 1, four times the run's steps of ``2 eps / steps``)
        on up to 16 AdvTest images: ``{"adv", "success"}`` (cached). An attack without a budget
        must fool the classifier, and a detector-aware one evade the detector too (Carlini's
        sanity check)."""
        images, labels, index = self.pool("advtest")
        c = self.config
        key = self.cache_key("checks", spec=spec, index=index[:16].tolist(), steps=c.steps, seed=c.seed,
                             auto_version=c.auto_version, auto_steps=c.auto_steps, m=c.gmm_components,
                             hfc_weight=c.hfc_weight,
                             **({"detector": self.detector_key(*against)} if against else {}))

        def compute():
            attack = self.build(spec, against, unbounded=True)
            result = attack.in_batches(images[:16], labels[:16], batch_size=self.config.batch_size)
            return {"adv": result.adv, "success": result.success}

        return self._cached("checks", key, compute)

    def attack_target(self, name: str, fit_attack: str) -> tuple:
        """The detector a detector-aware attack descends for fitted detector ``name``, and how it
        stands in for it (``{"adaptive": ...}``): the detector itself (``exact``), the mean of 20
        draws of a ``stochastic`` one (``eot``), or, for one without ``torch_score``, its
        :class:`~hfcbench.detectors.wrappers.Surrogate` (``surrogate``: the real score with a
        gradient estimated from queries, checked on the AdvTrain clean inputs). Raises
        :class:`SurrogateError` where no surrogate can follow the score (constant or non-finite);
        computed once per run."""
        def compute():
            fitted = self.fitted_detector(name, fit_attack)
            if attackable(fitted):
                return (EOT(fitted), {"adaptive": "eot", "draws": 20}) if fitted.stochastic else \
                    (fitted, {"adaptive": "exact"})
            surrogate = Surrogate(EOT(fitted) if fitted.stochastic else fitted, seed=self.config.seed)
            surrogate.check(self.clean_features("advtrain", maps=self.needs_maps(name)))
            return surrogate, {"adaptive": "surrogate", **surrogate.fit_quality_}

        return self.remembered(("attack-target", self.detector_key(name, fit_attack)), compute)

    def successful(self, spec: str, pool: str, *, maps: bool = False, against: Against = None) -> Features:
        """Features of the AEs of ``spec`` on ``pool`` that fooled the classifier (``maps``: with full maps)."""
        feats, success, _ = self.adversarial(spec, pool, against)
        rows = np.flatnonzero(success)
        if maps:
            targets = None if feats.labels is None else feats.labels[rows]
            return self.map_features(self.adversarial_images(spec, pool, against)[rows], targets)
        return feats.subset(rows)

    def sources(self, spec: str, pool: str, against: Against = None) -> np.ndarray:
        """The position in ``pool`` of each successful AE's source image, in :meth:`successful`'s order."""
        return np.flatnonzero(self.adversarial(spec, pool, against)[1])

    def noisy_features(self, fit_attack: str, *, maps: bool = False) -> Features:
        """Features of noisy copies of the AdvTrain images, with Gaussian noise of the mean L2 norm
        of the successful ``fit_attack`` AEs' perturbations (:mod:`hfcbench.protocol.noise`);
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

    def calibration_scores(self, name: str, fit_attack: str) -> np.ndarray:
        """(n,) scores of the fitted detector on the AdvTrain clean inputs: its calibration set, on
        which operating thresholds are set (a deployer's own clean data; AdvTest stays unseen)."""
        return self.remembered(("calibration", self.detector_key(name, fit_attack)), lambda: self.fitted_detector(
            name, fit_attack).score(self.clean_features("advtrain", maps=self.needs_maps(name))))

    def detector_scale(self, name: str, fit_attack: str) -> float:
        """The spread (standard deviation) of the fitted detector's scores on clean AdvTrain inputs:
        the unit in which detector-aware attacks weigh its score."""
        spread = float(np.std(self.calibration_scores(name, fit_attack)))
        return spread if np.isfinite(spread) and spread > 0 else 1.0

    def against(self, name: str, fit_attack: str, attack: str) -> Against:
        """``(name, fit_attack)`` when ``attack`` adapts to the detector under evaluation, else None."""
        return (name, fit_attack) if is_detector_aware(attack) else None

    def detector_scores(self, name: str, fit_attack: str, attack: str) -> dict[str, np.ndarray]:
        """``{"clean", "before", "after"}`` -> (N,) scores on AdvTest: clean inputs, successful AEs of
        ``fit_attack`` and of ``attack`` (crafted against this detector when it is detector-aware);
        higher = more adversarial. ``"before_source"`` and ``"after_source"`` give each AE's source
        image (its position among the clean inputs)."""
        detector, maps = self.fitted_detector(name, fit_attack), self.needs_maps(name)
        against = self.against(name, fit_attack, attack)
        parts = {"clean": self.clean_features("advtest", maps=maps),
                 "before": self.successful(fit_attack, "advtest", maps=maps),
                 "after": self.successful(attack, "advtest", maps=maps, against=against)}
        scores = {tag: detector.score(feats) if len(feats) else np.empty(0) for tag, feats in parts.items()}
        for tag, spec, on in (("before", fit_attack, None), ("after", attack, against)):
            scores[f"{tag}_source"] = self.sources(spec, "advtest", on)
        return scores

    def layer_aucs(self, name: str, fit_attack: str, attack: str) -> dict[str, dict[str, dict | None]]:
        """``{"before"|"after": {characteristic: AUC and interval}}``: each layer's characteristic alone (Fig. 6)."""
        maps = self.needs_maps(name)
        advs = {tag: (self.successful(spec, "advtest", maps=maps), self.sources(spec, "advtest"))
                for tag, spec in (("before", fit_attack), ("after", attack))}
        return layer_aucs(self.fitted_detector(name, fit_attack), self.clean_features("advtrain", maps=maps),
                          self.successful(fit_attack, "advtrain", maps=maps), self.clean_features("advtest", maps=maps),
                          advs, seed=self.config.seed)

    def craft(self, attack, images: torch.Tensor, labels: torch.Tensor, *, desc: str = "attack") -> AttackResult:
        """``attack`` on ``images`` in this run's batches, with a progress bar unless quiet."""
        return attack.in_batches(images, labels, batch_size=self.config.batch_size, desc=desc,
                                 progress=not self.config.quiet)

    def build(self, spec: str, against: Against = None, *, unbounded: bool = False,
              done: dict[str, AttackResult] | None = None):
        """The attack ``spec`` (e.g. ``"pgd+hfc"``) on this run's model with its budget and mixtures;
        ``against`` = (detector, fit attack) gives a detector-aware ``spec`` the fitted detector.
        ``unbounded``: eps = 1 and four times the run's steps of ``2 eps / steps`` (the sanity check
        that an attack free of its budget fools the classifier). ``auto`` runs its own APGD arms
        (:mod:`hfcbench.attacks.auto`), with ``--auto-version``, each on the images no earlier arm
        took below every calibration score of the detector; ``done``: its arms already crafted (those
        that do not read the detector, from :meth:`auto_shared_arms`)."""
        c = self.config
        assert isinstance(c.eps, float) and c.alpha is not None and c.steps is not None  # the budget is resolved
        steps = 1 if spec == "fgsm" else c.steps
        budget: dict[str, Any] = dict(eps=c.eps, alpha=c.alpha, steps=steps, seed=c.seed)
        if unbounded:
            budget.update(eps=1.0, alpha=2.0 / (4 * steps), steps=4 * steps)
        parts = spec.split("+")
        auto = spec == "auto"
        if auto:
            budget.update(steps=c.auto_steps, version=c.auto_version)  # APGD's own iterations and step sizes
            if against:
                budget["calibration"] = self.calibration_scores(*against)
            if done:
                budget["done"] = done
        ready: dict[str, LossTerm] = {"hfc": self.hfc_term()} if "hfc" in parts or auto else {}
        needs_context = auto or any(not is_base(p) and p not in ready for p in parts)
        context = None
        if needs_context:
            context = self.context()
            if against:
                context = AttackContext(context.reference, detector=self.attack_target(*against)[0],
                                        detector_scale=self.detector_scale(*against))
        return build_attack(spec, self.model, context=context, ready_terms=ready, **budget)
