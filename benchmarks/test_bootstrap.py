"""The paired bootstrap of one leaderboard cell: hfcbench's vectorised replicates against a loop
over replicates that calls the point metrics on each resample (the obvious implementation).
A chest X-ray cell of the quick profile: 165 clean AdvTest images, 165 AEs before and 160 after,
2,000 replicates, AUC and TPR@90 before and after and the paired drop."""

import numpy as np
import pytest

from hfcbench.stats.bootstrap import paired_bootstrap
from hfcbench.stats.metrics import auc, tpr_at_tnr

N_CLEAN, N_BOOT = 165, 2000


@pytest.fixture(scope="module")
def cell():
    rng = np.random.default_rng(0)
    clean = rng.normal(size=N_CLEAN)
    before_source, after_source = np.arange(N_CLEAN), np.sort(rng.choice(N_CLEAN, 160, replace=False))
    before = clean[before_source] + 2 + rng.normal(size=N_CLEAN)
    after = clean[after_source] + 0.3 + rng.normal(size=160)
    return clean, before, before_source, after, after_source


def vectorised(clean, before, before_source, after, after_source):
    return paired_bootstrap(clean, before, before_source, after, after_source, n_boot=N_BOOT)


def looped(clean, before, before_source, after, after_source):
    rng = np.random.default_rng(0)
    values = []
    for _ in range(N_BOOT):
        draw = rng.integers(0, N_CLEAN, N_CLEAN)
        counts = np.bincount(draw, minlength=N_CLEAN)
        b = np.repeat(before, counts[before_source])
        a = np.repeat(after, counts[after_source])
        c = clean[draw]
        values.append((auc(c, b), auc(c, a), tpr_at_tnr(c, b), tpr_at_tnr(c, a)))
    return np.percentile(np.array(values), [2.5, 97.5], axis=0)


@pytest.mark.benchmark(group="bootstrap")
def test_vectorised_bootstrap(benchmark, cell):
    benchmark(vectorised, *cell)


@pytest.mark.benchmark(group="bootstrap")
def test_looped_bootstrap(benchmark, cell):
    benchmark.pedantic(looped, args=cell, rounds=2)
