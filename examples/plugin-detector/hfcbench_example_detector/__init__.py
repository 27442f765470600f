"""Distance of the penultimate features to the reference centroid of the predicted class.

A complete hfcbench detector: keyword hyper-parameters in ``__init__``, ``_fit`` learning
attributes that end in ``_``, ``characteristics`` with the raw per-layer values and ``_score``
(higher = more adversarial). ``_fit`` takes ``reference``: the classifier's training-set features
with their true labels (the harness passes them; without them, the clean fit features). A
detector whose ``_fit(clean, adv, noisy)`` leaves ``reference`` out works too and never sees it.

``torch_score`` is optional: the same score in torch, differentiable in the features, so that
``hfcbench run --attacks joint,selective,orthogonal,auto`` can attack this detector *as itself*
(without it, they attack a surrogate: its real score with a gradient estimated from queries).
``check_detector`` checks that it equals ``score`` and has finite gradients. Here ``score`` is computed through it.
"""

import numpy as np
import torch

from hfcbench.detectors.base import Detector


class CentroidDistance(Detector):
    """Euclidean distance of penultimate features to the training centroid of the predicted class."""

    name = "centroid"
    requires = frozenset({"penultimate", "logits"})

    def __init__(self, *, scale: float = 1.0):
        self.scale = scale

    def _fit(self, clean, adv, noisy, *, reference):
        self._require("scale", self.scale, self.scale > 0, "> 0")
        z, labels = reference.array("penultimate"), self._class_labels(reference)
        # one centroid per class the classifier has; a class without reference images gets the overall mean
        centroids = np.tile(z.mean(0), (reference.logits.shape[1], 1))
        for c in np.unique(labels):
            centroids[int(c)] = z[labels == c].mean(0)
        self.centroids_ = torch.from_numpy(centroids)

    def torch_score(self, feats):
        """(N,) scaled distance to the centroid of the predicted class, differentiable."""
        self._check_fitted()
        z = feats.penultimate
        return self.scale * (z - self.centroids_.to(z)[feats.predictions]).norm(dim=1)

    def characteristics(self, feats):
        return {"penultimate": self._score_through_torch(feats)}

    def _score(self, feats):
        return self._score_through_torch(feats)

