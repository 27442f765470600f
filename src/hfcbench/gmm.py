"""Full-covariance Gaussian mixtures fitted by EM (Dempster et al. 1977), in torch.

The HFC term (paper Eq. 14-16) and the HFC anomaly score (Eq. 18-19) model each layer's
channel-mean features of one class with a mixture of ``M`` Gaussians. This implementation follows
scikit-learn's ``GaussianMixture(covariance_type="full")`` step for step (k-means
initialisation, ``reg_covar`` added to every covariance diagonal, the mean log-likelihood as the
convergence criterion), with every inverse and log-determinant taken from a Cholesky factor
(see :mod:`hfcbench.linalg`). EM itself never forms an inverse: the E-step solves triangular
systems with the factors, and ``inv_chol_`` (used to evaluate the fitted mixture) is computed
once, on first use.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch

from .errors import InvalidParameterError, NotFittedError
from .linalg import cholesky_psd, inverse_cholesky, logdet_from_cholesky

RESP_FLOOR = 1e-10


class GaussianMixture:
    """``M``-component full-covariance Gaussian mixture.

    Args:
        n_components: ``M`` (paper: 16 for chest X-ray, 64 for fundoscopy).
        reg_covar: added to each covariance diagonal (as scikit-learn's ``reg_covar``).
        max_iter, tol: EM stops after ``max_iter`` iterations or when the mean log-likelihood
            changes by less than ``tol``.
        seed: seeds the k-means initialisation.

    Learned attributes: ``weights_`` (M,), ``means_`` (M, d), ``chol_`` (M, d, d) lower Cholesky
    factors of the covariances, ``inv_chol_`` (M, d, d) their inverses (a property computed on
    first use), ``log_det_`` (M,),
    ``lower_bound_`` (the final mean log-likelihood), ``n_iter_``, ``converged_``.
    """

    def __init__(self, n_components: int = 16, *, reg_covar: float = 1e-6, max_iter: int = 100,
                 tol: float = 1e-3, seed: int = 0):
        self.n_components, self.reg_covar, self.max_iter, self.tol = n_components, reg_covar, max_iter, tol
        self.seed = seed
        self.dtype = torch.float64  # parameters are kept in float64 (see _e_step for the float32 part)

    # -- fitting ----------------------------------------------------------------------------------
    def fit(self, x, resp: torch.Tensor | None = None) -> GaussianMixture:
        """Fit on ``x`` (N, d). ``resp`` (N, M) gives initial responsibilities; by default they are
        the one-hot labels of a k-means run (one initialisation, ``seed``), as in scikit-learn."""
        x = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).to(self.dtype)
        if x.ndim != 2 or not torch.isfinite(x).all():
            raise InvalidParameterError(f"GMM input must be finite (N, d), got shape {tuple(x.shape)}")
        n, m = len(x), self.n_components
        if m < 1 or self.max_iter < 1 or self.reg_covar < 0:
            raise InvalidParameterError(f"n_components >= 1, max_iter >= 1, reg_covar >= 0 required; got "
                                        f"{m}, {self.max_iter}, {self.reg_covar}")
        if m > n:
            raise InvalidParameterError(f"a mixture of M={m} components needs at least {m} samples, got {n}; "
                                        "lower the number of components (--gmm-components)")
        if resp is None:
            resp = self._kmeans_resp(x)
        self._m_step(x, resp.to(self.dtype))
        previous = -math.inf
        self.converged_ = False
        for n_iter in range(1, self.max_iter + 1):
            self.n_iter_ = n_iter
            log_resp, log_norm = self._e_step(x)
            self._m_step(x, log_resp.exp())
            self.lower_bound_ = float(log_norm.mean())
            if abs(self.lower_bound_ - previous) < self.tol:
                self.converged_ = True
                break
            previous = self.lower_bound_
        return self

    def _kmeans_resp(self, x: torch.Tensor) -> torch.Tensor:
        from sklearn.cluster import KMeans

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # duplicate points: fewer distinct clusters is fine
            labels = KMeans(self.n_components, n_init=1, random_state=self.seed).fit(x.cpu().numpy()).labels_
        return torch.nn.functional.one_hot(torch.as_tensor(labels, dtype=torch.long), self.n_components).to(self.dtype)

    def _m_step(self, x: torch.Tensor, resp: torch.Tensor) -> None:
        """Weights, means and covariances from responsibilities ``resp`` (N, M).

        Rows whose responsibility for a component is below ``RESP_FLOOR`` are left out of that
        component's covariance: their share of it is below 1e-10 relative, and skipping them
        makes the step cost ``sum_m |{n: r_nm > floor}| d^2`` instead of ``N M d^2``.
        """
        eps = 10 * torch.finfo(self.dtype).eps
        nk = resp.sum(0) + eps                                               # (M,)
        self.weights_ = nk / len(x)
        self.means_ = resp.T @ x / nk[:, None]                               # (M, d)
        cov = torch.empty(len(nk), x.shape[1], x.shape[1], dtype=self.dtype)
        for m in range(len(nk)):
            rows = resp[:, m] > RESP_FLOOR
            diff = x[rows] - self.means_[m]
            cov[m] = (diff * resp[rows, m, None]).T @ diff / nk[m]
        cov.diagonal(dim1=-2, dim2=-1).add_(self.reg_covar)
        self._set_cholesky(cholesky_psd(cov, what="a mixture component's covariance"))

    def _set_cholesky(self, chol: torch.Tensor) -> None:
        self.chol_, self.log_det_, self._inv_chol = chol, logdet_from_cholesky(chol), None

    @property
    def inv_chol_(self) -> torch.Tensor:
        """(M, d, d) ``L_m^-1``, so that ``Sigma_m^-1 = L_m^-T L_m^-1``; computed once per fit."""
        self._check_fitted()
        if self._inv_chol is None:
            self._inv_chol = inverse_cholesky(self.chol_)
        return self._inv_chol

    def _e_step(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-responsibilities (N, M) and per-row log-likelihood (N,).

        ``y = (x - mu_m) L_m^-T`` is solved from the triangular factor (half the work of a product
        with an inverse, and no inverse to form). These N x d x d solves and the sums of squares run
        in float32 on rows centred on each component's mean (so no digits are lost to a common
        offset); factors, log-determinants and the log-likelihood stay in float64. The mean
        log-likelihood matches scikit-learn's float64 EM to about 1e-8 relative at d = 512.
        """
        maha = torch.empty(len(x), self.n_components, dtype=self.dtype)
        chol_t, x32, means32 = self.chol_.transpose(1, 2).float(), x.float(), self.means_.float()
        for m in range(self.n_components):
            y = torch.linalg.solve_triangular(chol_t[m], x32 - means32[m], upper=True, left=False)
            maha[:, m] = (y * y).sum(1)
        weighted = self.log_prob_from_mahalanobis(maha, x.shape[1])
        log_norm = torch.logsumexp(weighted, 1)
        return weighted - log_norm[:, None], log_norm

    # -- evaluation (differentiable in x) ---------------------------------------------------------
    def mahalanobis_sq(self, x: torch.Tensor) -> torch.Tensor:
        """(N, M) squared Mahalanobis distance of each row of ``x`` (N, d) to each component."""
        self._check_fitted()
        inv_chol = self.inv_chol_.to(x)
        # y_m = L_m^-1 (x - mu_m) for all m at once, centred first so no digits cancel: (M, N, d)
        y = (x[None] - self.means_.to(x)[:, None, :]) @ inv_chol.transpose(1, 2)
        return y.pow(2).sum(-1).T

    def component_log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """(N, M) ``log(pi_m N(x | mu_m, Sigma_m))`` (Eq. 15 before the argmax)."""
        return self.log_prob_from_mahalanobis(self.mahalanobis_sq(x), x.shape[1])

    def log_prob_from_mahalanobis(self, maha: torch.Tensor, d: int) -> torch.Tensor:
        """(N, M) ``log(pi_m N(x | m))`` from the (N, M) squared distances of d-dim inputs."""
        log_gauss = -0.5 * (d * math.log(2 * math.pi) + self.log_det_.to(maha) + maha)
        return log_gauss + self.weights_.to(maha).log()

    def score_samples(self, x: torch.Tensor) -> torch.Tensor:
        """(N,) log-likelihood of each row under the mixture."""
        return torch.logsumexp(self.component_log_prob(x), 1)

    def _check_fitted(self) -> None:
        if not hasattr(self, "chol_"):
            raise NotFittedError("this GaussianMixture is not fitted yet; call fit(x) first")

    # -- persistence ------------------------------------------------------------------------------
    def to_state(self) -> dict:
        self._check_fitted()
        return {"weights": self.weights_, "means": self.means_, "chol": self.chol_,
                "params": {"n_components": self.n_components, "reg_covar": self.reg_covar,
                           "max_iter": self.max_iter, "tol": self.tol, "seed": self.seed},
                "lower_bound": self.lower_bound_, "n_iter": self.n_iter_, "converged": self.converged_}

    @classmethod
    def from_state(cls, state: dict) -> GaussianMixture:
        gmm = cls(**state["params"])
        gmm.weights_, gmm.means_ = state["weights"], state["means"]
        gmm._set_cholesky(state["chol"])
        gmm.lower_bound_, gmm.n_iter_, gmm.converged_ = state["lower_bound"], state["n_iter"], state["converged"]
        return gmm
