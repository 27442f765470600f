"""Reactive detectors of adversarial examples, one file each; ``DETECTORS`` names them.

Every detector follows the contract in :mod:`hfcbench.detectors.base`: ``fit(clean, adv)``,
``score(feats)`` with higher = more adversarial, ``characteristics(feats)``.
"""

from __future__ import annotations

from ..registry import Registry
from .base import Detector

DETECTORS: Registry = Registry("detectors", {
    "kd": "hfcbench.detectors.kd:KD",
    "bu": "hfcbench.detectors.bu:BU",
    "lid": "hfcbench.detectors.lid:LID",
    "maha": "hfcbench.detectors.maha:MAHA",
    "svm": "hfcbench.detectors.svm:SVM",
    "dnn": "hfcbench.detectors.dnn:DNN",
    "dnn-mlp": "hfcbench.detectors.dnn_mlp:DNNMLP",
    "hfc": "hfcbench.detectors.hfc:HFC",
    "maha++": "hfcbench.detectors.maha:MAHAPlusPlus",
    "rmd": "hfcbench.detectors.rmd:RMD",
    "vim": "hfcbench.detectors.vim:ViM",
    "knn": "hfcbench.detectors.deep_knn:DeepKNN",
    "energy": "hfcbench.detectors.energy:Energy",
})

__all__ = ["DETECTORS", "Detector"]
