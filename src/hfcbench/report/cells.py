"""What a table shows of one cell: an estimate with its interval, and a cell's records over seeds.

**Minimum-AE rule**: an AUC or TPR resting on fewer than ``MIN_AES`` successful AEs (per seed) is
shown as ``n<MIN_AES (n=...)`` and enters no ranking. An evasion rate needs no such rule: it counts
every AdvTest image, and an attack that fools few images evades on few.

**Inverted**: an AUC whose whole 95% interval lies below 0.5 is marked ``inv``: the detector
scores those AEs as *more* typical than clean inputs (the attack overshoots); a two-sided score
(flagging scores far on either side) would catch them, so such an AUC does not mean the detector
is beaten beyond chance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..results import NOT_ADAPTIVE
from ..stats.bootstrap import N_BOOT, paired_difference
from ..stats.intervals import combine_seeds

MIN_AES = 20


@dataclass(frozen=True)
class Estimate:
    """A metric of one cell: ``value`` with its 95% interval ``[low, high]`` (None if unknown)."""

    value: float | None
    low: float | None = None
    high: float | None = None

    @classmethod
    def of(cls, metrics: dict, name: str) -> Estimate:
        """``metrics[name]`` with its ``{name}_ci_low`` and ``{name}_ci_high`` (a record's or
        :func:`~hfcbench.stats.bootstrap.auc_interval`'s fields)."""
        return cls(metrics.get(name), metrics.get(f"{name}_ci_low"), metrics.get(f"{name}_ci_high"))

    def text(self, compact: bool = False) -> str:
        """Percent: ``31.2 [24.0, 38.5]``, or compactly ``31.2±7.3`` (the larger half-width)."""
        if self.value is None:
            return "n/a"
        if self.low is None or self.high is None:
            return pct(self.value)
        if compact:
            return f"{pct(self.value)}±{100 * max(self.high - self.value, self.value - self.low):.1f}"
        return f"{pct(self.value)} [{pct(self.low)}, {pct(self.high)}]"

    def bounds(self) -> tuple[float, float]:
        """``(low, high)``, or the value twice where the interval is unknown (a point)."""
        assert self.value is not None, "an estimate without a value has no bounds"
        if self.low is None or self.high is None:
            return self.value, self.value
        return self.low, self.high

    def below_chance(self) -> bool:
        """Whether the whole interval (the value, without one) lies below 0.5: for an AUC, the
        detector ranks the positives *below* the negatives (``inv``, module docstring)."""
        return self.value is not None and self.bounds()[1] < 0.5

    def overlaps(self, other: Estimate) -> bool:
        """Whether the two intervals (a point where one is missing) share a value."""
        (low, high), (other_low, other_high) = self.bounds(), other.bounds()
        return low <= other_high and other_low <= high


def rested_text(estimate: Estimate, n: int, min_aes: int, compact: bool = False) -> str:
    """An AUC resting on ``n`` AEs as tables show it: ``n<min_aes (n=...)`` below the min-AE rule,
    else the estimate with its interval."""
    return f"n<{min_aes} (n={n})" if n < min_aes else estimate.text(compact)


def pct(value) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"


class Cell:
    """The records of one (group, fit attack, attack, detector), one per seed."""

    def __init__(self, records: list[dict]):
        self.records = sorted(records, key=lambda r: r["seed"])

    def metric(self, name: str) -> Estimate:
        """``name`` over the seeds (mean and t-interval), or one seed's value and bootstrap interval."""
        metrics = [r["metrics"] for r in self.records]
        if len(metrics) == 1:
            return Estimate.of(metrics[0], name)
        bounds = (-1.0, 1.0) if name == "auc_drop" else (0.0, 1.0)  # every metric here is a rate or a drop of one
        combined = combine_seeds([m.get(name) for m in metrics], [m.get(f"{name}_se") for m in metrics],
                                 bounds=bounds)
        if combined is None:
            values = [m.get(name) for m in metrics if m.get(name) is not None]
            return Estimate(float(np.mean(values)) if values else None)
        return Estimate(*combined)

    def n_aes(self, tag: str) -> int:
        """The fewest successful AEs of ``tag`` ("before"/"after") any seed's AUC rests on."""
        return min(r["metrics"].get(f"n_adv_{tag}") or 0 for r in self.records)

    def auc(self, tag: str, min_aes: int, compact: bool = False, metric: str = "auc") -> str:
        """The AUC (or ``metric``, e.g. ``pauc5``) of ``tag`` as tables show it: with its interval,
        ``n<min_aes`` under the min-AE rule, `` inv`` when inverted, `` (!)`` under a warning."""
        if tag == "after" and self.not_adaptive:
            return NOT_ADAPTIVE
        text = rested_text(self.metric(f"{metric}_{tag}"), self.n_aes(tag), min_aes, compact)
        if metric == "auc" and self.n_aes(tag) >= min_aes and self.metric(f"auc_{tag}").below_chance():
            text += " inv"  # a partial AUC's floor lies near 0.5: only a full AUC can be inverted
        return f"{text} (!)" if tag == "after" and self.warnings else text

    def tpr(self, tag: str, min_aes: int, metric: str = "tpr90") -> str:
        """TPR@90 (or ``metric``, e.g. ``tpr_fpr5``) in %, or ``n<min_aes`` under the min-AE rule
        (the AUC beside it gives n)."""
        if tag == "after" and self.not_adaptive or self.n_aes(tag) >= min_aes:
            return pct(self.metric(f"{metric}_{tag}").value)
        return f"n<{min_aes}"

    def evasion(self, tag: str) -> Estimate:
        """The evasion at 5% FPR of the evaluated attack (``after``) or of the fit attack (``before``)."""
        return self.metric("evasion5" if tag == "after" else "evasion5_before")

    def evaded(self, tag: str) -> dict[int, tuple[np.ndarray, int]] | None:
        """``{seed: (per-image 0/1 evasion at 5% FPR, n_boot)}``, or None where a seed's record
        lacks it (records made before hfcbench recorded it)."""
        field = "evaded5" if tag == "after" else "evaded5_before"
        out = {}
        for r in self.records:
            text = (r.get("per_image") or {}).get(field)
            if text is None:
                return None
            out[r["seed"]] = (np.frombuffer(text.encode(), dtype=np.uint8) - ord("0"),
                              int(r["metrics"].get("n_boot") or N_BOOT))
        return out

    @property
    def failed(self) -> bool:
        """A seed's record holds an error instead of numbers."""
        return any("error" in r["metrics"] for r in self.records)

    @property
    def not_adaptive(self) -> bool:
        """No seed attacked the detector as itself (a detector-aware attack, no ``torch_score``)."""
        return any(r.get("status") == NOT_ADAPTIVE for r in self.records)

    @property
    def warnings(self) -> list[str]:
        """The attack-strength warnings of the cell's AE sets (seed-prefixed when several)."""
        several = len(self.records) > 1
        return [f"seed {r['seed']}: {w}" if several else w for r in self.records for w in r.get("warnings") or []]


def separated(first: tuple[Cell, str], second: tuple[Cell, str]) -> bool | None:
    """Whether two cells' evasion rates at 5% FPR (``(cell, "before"|"after")``) differ by the
    paired bootstrap: per seed the replicate-wise difference over the same resampled AdvTest
    images (:func:`~hfcbench.stats.bootstrap.paired_difference`), several seeds combined as a
    t-interval; separated when the 95% interval excludes 0. None where the per-image evasion is
    missing or the cells do not share their seeds and images."""
    a, b = first[0].evaded(first[1]), second[0].evaded(second[1])
    if a is None or b is None or set(a) != set(b) or any(len(a[s][0]) != len(b[s][0]) for s in a):
        return None
    diffs = [paired_difference(a[s][0], b[s][0], n_boot=a[s][1], seed=s) for s in sorted(a)]
    if len(diffs) == 1:
        low, high = diffs[0]["value_ci_low"], diffs[0]["value_ci_high"]
    else:
        combined = combine_seeds([d["value"] for d in diffs], [d["value_se"] for d in diffs], bounds=(-1.0, 1.0))
        assert combined is not None  # two or more finite differences
        _, low, high = combined
    return not low <= 0 <= high
