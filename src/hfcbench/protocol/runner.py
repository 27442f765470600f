"""``hfcbench run``: every (fit attack, evaluated attack) pair against every detector.

For each base attack ("fit attack") the detectors are fitted on AdvTrain clean features against
the features of that attack's successful AEs (:mod:`.artifacts`); each detector then scores
AdvTest clean inputs against the successful AEs of the base attack (*before*) and of the adaptive
attack (*after*): ``hfc`` against each base attack's HFC version (Table I), the feature-guide,
KDE- and LID-aware and detector-aware attacks against BIM-fitted detectors (Table II); then each
fitted detector's per-image worst cases (:mod:`.cells`). Each finished record is appended to
``results.jsonl`` at once, so a run killed at any point and started again loses nothing.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict
from pathlib import Path

from tqdm.auto import tqdm

from ..errors import PLUGIN_FAILURES
from ..isa import describe as describe_platform
from ..results import RECORD_FORMAT, append_record, read_records, record_key, writing
from . import benign_shift, cells
from .artifacts import Artifacts
from .budget import as_state
from .config import worst_case_groups


class Runner(Artifacts):
    """One run's :class:`~.artifacts.Artifacts`; :meth:`run` turns them into records."""

    @property
    def params(self) -> dict:
        """The settings every record of this run carries, so each number traces to them: the
        config (not where files live or how the run is shown), the classifier, the split and the
        budget search."""
        c = self.config
        params = {k: v for k, v in asdict(c).items()
                  if k not in ("quiet", "no_cache", "out", "plugins", "seeds", "min_aes", "cache_dir", "data_dir",
                              "benign_shift")}
        params.update(arch=self.arch, checkpoint_sha256=self.trained.checkpoint_sha256,
                      hooked_layers=self.extractor.layer_names[:-1], pool_size=self.split.pool_size,
                      misclassified=self.split.misclassified,
                      adv_train=len(self.split.adv_train), adv_test=len(self.split.adv_test),
                      test_accuracy=self.trained.test_accuracy,
                      eps_search=None if self.budget_search is None else as_state(self.budget_search))
        return params

    def run(self, results_path: Path):
        """Append every missing record to ``results_path`` and yield all records of this run: one per
        (fit attack, attack, detector), then the per-image worst cases of each fitted detector."""
        with writing(results_path, quiet=self.config.quiet):
            yield from self._run(results_path)

    def _run(self, results_path: Path):
        c = self.config
        self.stages.start(f"craft AEs, fit and score {len(self.detector_names)} detectors x {len(self.pairs)} attack "
                          "pairs")
        done, stamp = self._done(results_path), self._stamp()
        evaluated: dict[tuple[str, str], list[str]] = {}  # (fit attack, detector) -> attacks it faced
        bar = tqdm(total=len(self.pairs) * len(self.detector_names), desc="fit and score detectors",
                   disable=c.quiet)
        for fit_attack, attack in self.pairs:
            for name in self.detector_names:
                bar.set_postfix_str(f"{name}: {fit_attack} -> {attack}")
                bar.update()
                faced_by = evaluated.setdefault((fit_attack, name), [fit_attack])  # its own AEs count too
                if attack not in faced_by:
                    faced_by.append(attack)
                yield self._resumed(results_path, done, stamp, name, fit_attack, attack,
                                    lambda n=name, f=fit_attack, a=attack: cells.cell(self, n, f, a))
        bar.close()
        self.stages.start("per-image worst cases")
        for (fit_attack, name), attacks in evaluated.items():
            for label, chosen in worst_case_groups(cells.faced(self, name, fit_attack, attacks)):
                yield self._resumed(results_path, done, stamp, name, fit_attack, label,
                                    lambda n=name, f=fit_attack, a=chosen: cells.worst_case(self, n, f, a))

    def run_benign_shift(self, results_path: Path):
        """Append every missing benign-shift record to ``results_path`` and yield all of them: one
        per (detector, family, severity), detectors fitted against the first fit attack
        (:mod:`.benign_shift`)."""
        assert self.benign_families, "a benign-shift run needs --benign-shift"
        with writing(results_path, quiet=self.config.quiet):
            yield from self._run_benign_shift(results_path)

    def _run_benign_shift(self, results_path: Path):
        self.stages.start(f"benign shift: {len(self.benign_families)} corruption families")
        done, stamp = self._done(results_path), self._stamp()
        fit_attack = self.fit_attacks[0]
        todo = benign_shift.cells_to_run(self.benign_families)
        bar = tqdm(total=len(todo) * len(self.detector_names), desc="benign shift", disable=self.config.quiet)
        for family, severity in todo:
            for name in self.detector_names:
                bar.set_postfix_str(f"{name}: {family} at severity {severity}")
                bar.update()
                yield self._resumed(results_path, done, stamp, name, fit_attack, benign_shift.label(family, severity),
                                    lambda n=name, f=family, s=severity: benign_shift.cell(self, n, fit_attack, f, s))
        bar.close()

    @staticmethod
    def _done(results_path: Path) -> dict:
        """The records ``results_path`` already holds, by key (a resumed run keeps them)."""
        if not results_path.exists():
            return {}
        return {record_key(r): r for r in read_records([results_path], allow_empty=True)}

    def _stamp(self) -> dict:
        """What every record of this run carries beside its numbers."""
        return {"params": self.params, "versions": describe_platform(), "device": str(self.device),
                "format": RECORD_FORMAT}

    def _resumed(self, results_path: Path, done: dict, stamp: dict, name: str, fit_attack: str, attack: str,
                 compute) -> dict:
        """The finished record of this cell from ``done`` (same parameters, no error), or a new one
        from ``compute() -> (metrics, extra fields)``, appended to ``results_path`` at once."""
        c = self.config
        base = dict(dataset=c.dataset, model=self.arch, seed=c.seed, fit_attack=fit_attack, attack=attack,
                    detector=name)
        existing = done.get(record_key({**base, "params": stamp["params"]}))
        if (existing is not None and existing.get("params") == stamp["params"] and "error" not in existing["metrics"]
                and existing.get("format") == RECORD_FORMAT):  # a record of an older version is made again
            return existing
        start = time.perf_counter()
        try:
            metrics, extra = compute()
        except PLUGIN_FAILURES as exc:  # a detector failing (a plugin raising or exiting, NaN scores) costs its cells
            metrics, extra = cells.failed(exc), {}
        if "error" in metrics and name not in self.failures:
            self.failures[name] = metrics["error"]
            print(f"hfcbench: detector {name} failed ({metrics['error']}); its cells are recorded with the error and "
                  "the other detectors go on", file=sys.stderr)
        record = {**base, "metrics": metrics, **extra, **stamp,
                  "timings": {"detector_seconds": time.perf_counter() - start}}
        append_record(results_path, record)
        return record
