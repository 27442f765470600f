"""``dnn-mlp``: a per-layer perceptron ensemble on channel means, a cheap stand-in for the DNN
detector of Metzen et al. 2017 (the paper's DNN row is :mod:`hfcbench.detectors.dnn`).

For every layer, a two-layer perceptron (D_l -> 64 -> 1, ReLU) on standardised channel-mean
features is trained to output the logit of "adversarial" (Adam, lr 1e-2, weight decay 1e-4, full
batch, ``epochs`` steps, seeded); the ensemble sums the per-layer logits, as the paper's DNN
ensemble does. It sees exactly what HFC constrains (the channel means), so it flatters HFC next
to Metzen's detector, which sees whole feature maps: keep it for comparison, not as the DNN row.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..models.features import Features
from .base import Detector


class DNNMLP(Detector):
    """One MLP per layer on channel means (clean vs adversarial), logits summed over layers."""

    name = "dnn-mlp"
    requires = frozenset({"layers"})

    def __init__(self, *, hidden: int = 64, epochs: int = 200, lr: float = 1e-2, weight_decay: float = 1e-4,
                 seed: int = 0):
        self.hidden, self.epochs, self.lr, self.weight_decay, self.seed = hidden, epochs, lr, weight_decay, seed

    def _fit(self, clean: Features, adv: Features, noisy: Features | None, *, reference: Features) -> None:
        self._require("hidden", self.hidden, isinstance(self.hidden, int) and self.hidden >= 1, "an int >= 1")
        self._require("epochs", self.epochs, isinstance(self.epochs, int) and self.epochs >= 1, "an int >= 1")
        self._require("lr", self.lr, self.lr > 0, "> 0")
        y = torch.cat([torch.zeros(len(clean)), torch.ones(len(adv))])
        self.nets_, self.scales_ = {}, {}
        for index, name in enumerate(clean.layer_names):
            x = torch.from_numpy(np.concatenate([clean.array(name), adv.array(name)])).float()
            mean, std = x.mean(0), x.std(0).clamp_min(1e-8)
            torch.manual_seed(self.seed + index)
            net = nn.Sequential(nn.Linear(x.shape[1], self.hidden), nn.ReLU(), nn.Linear(self.hidden, 1))
            optimiser = torch.optim.Adam(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
            inputs = (x - mean) / std
            for _ in range(self.epochs):
                loss = F.binary_cross_entropy_with_logits(net(inputs).squeeze(1), y)
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
            self.nets_[name], self.scales_[name] = net.eval(), (mean, std)

    def layer_logits(self, feats: Features) -> torch.Tensor:
        """(N, L) each layer's network output, differentiable in the features (networks in float32)."""
        self._check_fitted()
        columns = []
        for name, net in self.nets_.items():
            f = feats.layers[name]
            mean, std = (t.to(f.device) for t in self.scales_[name])
            columns.append(net.to(f.device)((f.float() - mean) / std).squeeze(1).to(f.dtype))
        return torch.stack(columns, 1)

    def characteristics(self, feats: Features) -> dict[str, np.ndarray]:
        """``{layer: (N,) logit of that layer's network}``."""
        with torch.no_grad():
            values = self.layer_logits(feats).double().numpy()
        return dict(zip(self.nets_, values.T, strict=True))

    def torch_score(self, feats: Features) -> torch.Tensor:
        """(N,) the summed logits of the per-layer networks."""
        return self.layer_logits(feats).sum(1)

    def _score(self, feats: Features) -> np.ndarray:
        return np.sum(list(self.characteristics(feats).values()), axis=0)
