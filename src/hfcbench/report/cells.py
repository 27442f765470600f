"""What a table shows of one cell: an estimate with its interval, and a cell's records over seeds.

**Minimum-AE rule**: a metric resting on fewer than ``MIN_AES`` successful AEs (per seed) is shown
as ``n<MIN_AES (n=...)`` and enters no ranking.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..results import NOT_ADAPTIVE
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

    def auc(self, tag: str, min_aes: int, compact: bool = False) -> str:
        if tag == "after" and self.not_adaptive:
            return NOT_ADAPTIVE
        text = rested_text(self.metric(f"auc_{tag}"), self.n_aes(tag), min_aes, compact)
        return f"{text} (!)" if tag == "after" and self.warnings else text

    def tpr(self, tag: str, min_aes: int) -> str:
        """TPR@90 in %, or ``n<min_aes`` under the min-AE rule (the AUC beside it gives n)."""
        if tag == "after" and self.not_adaptive or self.n_aes(tag) >= min_aes:
            return pct(self.metric(f"tpr90_{tag}").value)
        return f"n<{min_aes}"

    @property
    def not_adaptive(self) -> bool:
        """No seed attacked the detector as itself (a detector-aware attack, no ``torch_score``)."""
        return any(r.get("status") == NOT_ADAPTIVE for r in self.records)

    @property
    def warnings(self) -> list[str]:
        """The attack-strength warnings of the cell's AE sets (seed-prefixed when several)."""
        several = len(self.records) > 1
        return [f"seed {r['seed']}: {w}" if several else w for r in self.records for w in r.get("warnings") or []]
