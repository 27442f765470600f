"""One EM iteration of hfcbench's GaussianMixture against scikit-learn's, from the same start,
at d = 512, M = 16, N = 4000 (target: at least 3x faster, the same log-likelihood to 1e-6)."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.mixture import GaussianMixture as SkGMM

from hfcbench.gmm import GaussianMixture

D, M, N, ITERATIONS = 512, 16, 4000, 3


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(M, D)) * 3
    x = centres[rng.integers(0, M, N)] + rng.normal(size=(N, D)) @ (0.05 * rng.normal(size=(D, D)) + np.eye(D))
    resp = GaussianMixture(M)._kmeans_resp(torch.from_numpy(x))
    start = GaussianMixture(M)
    start._m_step(torch.from_numpy(x), resp)
    init = dict(weights_init=start.weights_.numpy(), means_init=start.means_.numpy(),
                precisions_init=(start.inv_chol_.transpose(1, 2) @ start.inv_chol_).numpy())
    return x, resp, init


def fit_sklearn(x, init):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return SkGMM(M, covariance_type="full", max_iter=ITERATIONS, tol=0.0, **init).fit(x)


def fit_ours(x, resp):
    return GaussianMixture(M, max_iter=ITERATIONS, tol=0.0).fit(x, resp)


@pytest.mark.benchmark(group="gmm-em")
def test_sklearn(benchmark, problem):
    x, _, init = problem
    benchmark.pedantic(fit_sklearn, args=(x, init), rounds=3, iterations=1)


@pytest.mark.benchmark(group="gmm-em")
def test_hfcbench(benchmark, problem):
    x, resp, init = problem
    ours = benchmark.pedantic(fit_ours, args=(x, resp), rounds=3, iterations=1)
    assert ours.lower_bound_ == pytest.approx(fit_sklearn(x, init).lower_bound_, rel=1e-6)
