"""The hierarchical feature constraint (HFC), paper Sec. IV, Eq. 14-17 and Algorithm 1.

For every layer ``l`` the channel-mean features of the target class's training images are
modelled by a Gaussian mixture of ``M`` components (EM, :mod:`hfcbench.gmm`). At each attack step
the component ``m'`` most likely to have produced ``f_l(x)`` is chosen (Eq. 15) and its
Mahalanobis term is added to the attack's loss (Eq. 16-17):

    J_HFC = sum_l lambda_l / 2 (f_l(x) - mu_m')^T Sigma_m'^-1 (f_l(x) - mu_m'),   lambda_l = 1 / C_l

It is an add-on: ``hfc`` alone is BIM + HFC, and ``pgd+hfc``, ``mim+hfc``, ``tim+hfc``, ``cw+hfc``
add the same term to those attacks. ``scale`` (``--hfc-weight``, not in the paper; default 1)
multiplies every ``lambda_l``: it trades feature hiding against the attack's own success.
Mixture regularisation: :func:`hfcbench.mixtures.fit_class_mixtures`.
"""

from __future__ import annotations

import math

import torch

from ...errors import InvalidParameterError
from ...mixtures import fit_class_mixtures
from ..base import LossTerm
from .context import AttackContext, require_context


def check_hfc_weight(scale) -> None:
    """Refuse an HFC weight (``--hfc-weight``) that is not a finite number >= 0."""
    if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale >= 0):
        raise InvalidParameterError(f"--hfc-weight must be a finite number >= 0 (1 = the paper's "
                                    f"lambda_l = 1/C_l), got {scale!r}")


class HFCTerm(LossTerm):
    """Hierarchical feature constraint: GMM log-likelihood of every layer's features (add-on)."""

    name = "hfc"
    needs_layers = True

    def __init__(self, mixtures: dict[str, dict], *, weights: dict[str, float] | None = None, scale: float = 1.0):
        """``mixtures[layer][cls]`` is a fitted GaussianMixture; ``weights[layer]`` is lambda_l
        (default ``1 / C_l``), each multiplied by ``scale`` (>= 0; 0 leaves the base attack alone)."""
        check_hfc_weight(scale)
        self.mixtures = mixtures
        self._converted: dict = {}
        weights = weights or {layer: 1.0 / next(iter(by_class.values())).means_.shape[1]
                              for layer, by_class in mixtures.items()}
        self.weights = {layer: scale * w for layer, w in weights.items()}

    @classmethod
    def from_context(cls, context: AttackContext | None, *, n_components: int = 16, reg: float = 1e-3,
                     seed: int = 0, scale: float = 1.0, **_) -> HFCTerm:
        context = require_context(context, "hfc")
        labels = context.labels.numpy()
        mixtures = {layer: fit_class_mixtures(context.layer(layer), labels, n_components, reg=reg, seed=seed,
                                              what=f"layer {layer!r}")
                    for layer in context.reference.layer_names}
        return cls(mixtures, scale=scale)

    def _stacked(self, layer: str, like: torch.Tensor):
        """Every class's mixture of ``layer`` stacked, in ``like``'s dtype and device (converted
        once): means (K*M, d), ``L^-T`` (K*M, d, d), and ``log pi_m - log det Sigma_m / 2`` (K, M),
        where a class with fewer than M components is padded with ``-inf`` (never chosen)."""
        key = (layer, like.dtype, like.device)
        if key not in self._converted:
            by_class = self.mixtures[layer]
            classes = range(max(by_class) + 1)
            m = max(g.n_components for g in by_class.values())
            d = next(iter(by_class.values())).means_.shape[1]
            means = torch.zeros(len(classes) * m, d, dtype=torch.float64)
            inv_chol_t = torch.eye(d, dtype=torch.float64).repeat(len(classes) * m, 1, 1)
            log_norm = torch.full((len(classes), m), float("-inf"), dtype=torch.float64)
            for cls, gmm in by_class.items():
                k = gmm.n_components
                means[cls * m:cls * m + k] = gmm.means_
                inv_chol_t[cls * m:cls * m + k] = gmm.inv_chol_.transpose(1, 2)
                log_norm[cls, :k] = gmm.weights_.log() - 0.5 * gmm.log_det_
            self._converted[key] = (means.to(like), inv_chol_t.to(like), log_norm.to(like), m)
        return self._converted[key]

    def __call__(self, feats, target):
        """(N,) J_HFC. The component m' is chosen without gradients (Eq. 15 over the target class's
        M components); the gradient flows through the chosen component only, which is all that
        Eq. 16 differentiates. All classes are handled in one batched product per layer."""
        rows = torch.arange(len(target), device=target.device)
        total = 0.0
        for layer in self.mixtures:
            f = feats.layers[layer]
            means, inv_chol_t, log_norm, m = self._stacked(layer, f)
            with torch.no_grad():
                y = (f.detach()[None] - means[:, None]) @ inv_chol_t                 # (K*M, N, d)
                maha = y.pow(2).sum(-1).T.view(len(f), -1, m)[rows, target]          # (N, M)
                chosen = target * m + (log_norm[target] - 0.5 * maha).argmax(1)      # (N,)
            z = ((f - means[chosen])[:, None, :] @ inv_chol_t[chosen]).squeeze(1)   # (N, d)
            total = total + 0.5 * self.weights[layer] * z.pow(2).sum(1)
        return total
