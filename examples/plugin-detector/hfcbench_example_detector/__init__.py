"""Distance of the penultimate features to the reference centroid of the predicted class.

A complete hfcbench detector: keyword hyper-parameters in ``__init__``, ``_fit`` learning
attributes that end in ``_``, ``characteristics`` with the raw per-layer values and ``_score``
(higher = more adversarial). ``_fit`` takes ``reference``: the classifier's training-set features
with their true labels (the harness passes them; without them, the clean fit features). A
detector whose ``_fit(clean, adv, noisy)`` leaves ``reference`` out works too and never sees it.
"""

import numpy as np

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
        self.centroids_ = {int(c): z[labels == c].mean(0) for c in np.unique(labels)}

    def characteristics(self, feats):
        self._check_fitted()
        z, predicted = feats.array("penultimate"), feats.predictions.numpy()
        fallback = np.mean(list(self.centroids_.values()), axis=0)
        centres = np.stack([self.centroids_.get(int(c), fallback) for c in predicted])
        return {"penultimate": self.scale * np.linalg.norm(z - centres, axis=1)}

    def _score(self, feats):
        return self.characteristics(feats)["penultimate"]
