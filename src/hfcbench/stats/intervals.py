"""Intervals from numbers already computed: percentile intervals of bootstrap replicates, Wilson
intervals of success rates, and the t-interval that combines several seeds.

**Several seeds: mean with a t-interval.** With ``S`` seeds (each its own classifier, split,
targets and attacks) a cell's estimates ``theta_s`` vary from seed to seed *and* within each
seed (finite AdvTest). Under the random-effects model ``theta_s = theta + u_s + e_s``
(``Var u = tau^2`` between seeds, ``Var e_s = se_s^2`` from that seed's bootstrap), the sample
variance ``s^2`` of the ``theta_s`` estimates ``tau^2 + mean(se_s^2)``: it already holds both
sources. The interval is ``mean +- t_{0.975, S-1} sqrt(v / S)`` with ``v = max(s^2, mean(se_s^2))``:
the variance is floored at the seeds' mean bootstrap variance, so three seeds that happen to agree
cannot claim less uncertainty than one seed's bootstrap. One seed shows its bootstrap interval alone.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from ..errors import InvalidParameterError

LEVEL = 0.95

def percentile_interval(replicates: np.ndarray, level: float = LEVEL) -> tuple[float, float] | None:
    """``(low, high)`` percentile interval of the finite replicates; None when none is finite."""
    finite = replicates[np.isfinite(replicates)]
    if len(finite) == 0:
        return None
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)

def proportion_interval(successes: int, n: int, level: float = LEVEL) -> tuple[float, float] | None:
    """Wilson score interval ``(low, high)`` of a success rate ``successes / n`` (an attack's
    success over ``n`` images); None when ``n`` is 0. Unlike the normal approximation it stays
    inside [0, 1] and is not a point at 0% or 100%."""
    if not 0 <= successes <= n:
        raise InvalidParameterError(f"a success rate needs 0 <= successes <= n, got {successes} of {n}")
    if n == 0:
        return None
    z = stats.norm.ppf(0.5 + level / 2)
    rate, shrink = successes / n, 1 + z * z / n
    center = (rate + z * z / (2 * n)) / shrink
    half = z * math.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n)) / shrink
    return max(center - half, 0.0), min(center + half, 1.0)

def combine_seeds(estimates, standard_errors, level: float = LEVEL,
                  bounds: tuple[float, float] = (-math.inf, math.inf)) -> tuple[float, float, float] | None:
    """``(mean, low, high)`` over seeds: a t-interval with variance ``max(s^2, mean(se^2))`` (module
    docstring), cut to ``bounds``, the metric's range (an AUC's interval never passes 1). Needs at
    least two finite estimates (one seed: use its bootstrap interval)."""
    theta = np.asarray([e for e in estimates if e is not None and math.isfinite(e)], dtype=np.float64)
    ses = np.asarray([s for s in standard_errors if s is not None and math.isfinite(s)], dtype=np.float64)
    if len(theta) < 2:
        return None
    variance = max(float(theta.var(ddof=1)), float((ses ** 2).mean()) if len(ses) else 0.0)
    half = stats.t.ppf(0.5 + level / 2, len(theta) - 1) * math.sqrt(variance / len(theta))
    mean = float(theta.mean())
    return mean, max(mean - half, bounds[0]), min(mean + half, bounds[1])

