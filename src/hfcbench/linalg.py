"""Precision matrices, Mahalanobis terms and log-determinants from Cholesky factors only.

torch 2.13 on a 2-thread CPU gives wrong results (or hangs) for batched ``linalg.inv``,
``solve``, ``lu_factor`` and ``slogdet`` on matrices of about 150x150 and larger, while
``linalg.cholesky``, ``cholesky_inverse`` and ``solve_triangular`` are correct. Everything here
goes through a Cholesky factor ``L`` with ``Sigma = L L^T``.
"""

from __future__ import annotations

import torch

from .errors import InvalidParameterError


def cholesky_psd(cov: torch.Tensor, *, what: str = "covariance") -> torch.Tensor:
    """Lower Cholesky factor of symmetric PSD ``cov`` (..., d, d).

    Only the lower triangle of ``cov`` is read (as LAPACK's ``potrf`` does). A matrix that is
    singular to working precision gets a growing ridge ``10^k * 1e-10 * mean(diag)`` (k = 0..10)
    until the factorisation succeeds; a matrix with NaN or infinite values raises.
    """
    factor, info = torch.linalg.cholesky_ex(cov)
    # A NaN or inf below the diagonal makes the factorisation fail; an inf on it shows in the factor.
    if not bool((info > 0).any()) and bool(torch.isfinite(factor.diagonal(dim1=-2, dim2=-1)).all()):
        return factor
    if not torch.isfinite(cov.tril()).all():
        raise InvalidParameterError(f"{what} holds NaN or infinite values; check the features")
    eye = torch.eye(cov.shape[-1], dtype=cov.dtype, device=cov.device)
    scale = cov.diagonal(dim1=-2, dim2=-1).mean(-1).clamp_min(torch.finfo(cov.dtype).tiny)[..., None, None]
    for power in range(11):
        factor, info = torch.linalg.cholesky_ex(cov + eye * scale * (1e-10 * 10.0 ** power))
        if not bool((info > 0).any()):
            return factor
    raise InvalidParameterError(f"{what} is not positive semi-definite even after regularisation")


def mahalanobis_sq(x: torch.Tensor, mean: torch.Tensor, chol: torch.Tensor) -> torch.Tensor:
    """``(x - mean)^T Sigma^-1 (x - mean)`` with ``Sigma = chol chol^T``.

    Shapes: ``x`` (N, d); ``mean`` (d,) or (M, d); ``chol`` (d, d) or (M, d, d).
    Returns (N,) or (N, M).
    """
    if mean.ndim == 1:
        return mahalanobis_sq(x, mean[None], chol[None] if chol.ndim == 2 else chol)[:, 0]
    diff = (x[None, :, :] - mean[:, None, :]).transpose(1, 2)          # (M, d, N)
    solved = torch.linalg.solve_triangular(chol.expand(len(mean), -1, -1), diff, upper=False)
    return solved.pow(2).sum(1).transpose(0, 1)                          # (N, M)


def logdet_from_cholesky(chol: torch.Tensor) -> torch.Tensor:
    """``log det Sigma = 2 sum log diag(L)``; shape (...,)."""
    return 2.0 * chol.diagonal(dim1=-2, dim2=-1).log().sum(-1)


def precision_from_cholesky(chol: torch.Tensor) -> torch.Tensor:
    """``Sigma^-1`` from its Cholesky factor (``cholesky_inverse``), (..., d, d)."""
    return torch.cholesky_inverse(chol)


def inverse_cholesky(chol: torch.Tensor) -> torch.Tensor:
    """``L^-1`` (lower triangular), so that ``Sigma^-1 = L^-T L^-1``; (..., d, d)."""
    eye = torch.eye(chol.shape[-1], dtype=chol.dtype, device=chol.device).expand_as(chol)
    return torch.linalg.solve_triangular(chol, eye, upper=False)
