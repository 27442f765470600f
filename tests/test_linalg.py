"""Regression test for the torch CPU batched-LU bug: every inverse and log-determinant that
hfcbench takes comes from a Cholesky factor and agrees with LAPACK through numpy."""

import numpy as np
import pytest
import torch

from hfcbench.errors import InvalidParameterError
from hfcbench.linalg import (
    cholesky_psd,
    inverse_cholesky,
    logdet_from_cholesky,
    mahalanobis_sq,
    precision_from_cholesky,
)


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_batched_200x200_against_numpy(two_threads):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(6, 200, 260))
    cov = a @ a.transpose(0, 2, 1) / 260 + 0.1 * np.eye(200)
    chol = cholesky_psd(torch.from_numpy(cov))
    np.testing.assert_allclose(logdet_from_cholesky(chol).numpy(), np.linalg.slogdet(cov)[1], rtol=1e-10)
    np.testing.assert_allclose(precision_from_cholesky(chol).numpy(), np.linalg.inv(cov), rtol=1e-7, atol=1e-9)
    inv_l = inverse_cholesky(chol).numpy()
    np.testing.assert_allclose(inv_l.transpose(0, 2, 1) @ inv_l, np.linalg.inv(cov), rtol=1e-7, atol=1e-9)
    x, mean = rng.normal(size=(30, 200)), rng.normal(size=(6, 200))
    got = mahalanobis_sq(torch.from_numpy(x), torch.from_numpy(mean), chol).numpy()
    expected = np.stack([np.einsum("ni,ij,nj->n", x - m, np.linalg.inv(c), x - m)
                         for m, c in zip(mean, cov, strict=True)], 1)
    np.testing.assert_allclose(got, expected, rtol=1e-8)


def test_singular_covariance_gets_a_ridge():
    v = torch.randn(50, 1, dtype=torch.float64)
    cov = v @ v.T  # rank one
    chol = cholesky_psd(cov)
    assert torch.isfinite(chol).all()
    assert torch.allclose(chol @ chol.T, cov, atol=1e-6 * float(cov.diagonal().mean()))


def test_nan_covariance_is_refused():
    with pytest.raises(InvalidParameterError, match="NaN"):
        cholesky_psd(torch.full((3, 3), float("nan"), dtype=torch.float64))


@pytest.mark.parametrize("where", [(0, 0), (2, 2), (2, 0), (1, 0)])
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_one_non_finite_entry_in_the_lower_triangle_is_refused(where, bad):
    cov = torch.eye(3, dtype=torch.float64) * 2
    cov[where] = bad
    with pytest.raises(InvalidParameterError, match="NaN or infinite"):
        cholesky_psd(cov)


def test_only_the_lower_triangle_is_read():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(20, 40))
    cov = a @ a.T / 40
    scribbled = cov + np.triu(rng.normal(size=(20, 20)), 1)
    np.testing.assert_allclose(cholesky_psd(torch.from_numpy(scribbled)).numpy(), np.linalg.cholesky(cov),
                               rtol=1e-12, atol=1e-12)
