"""Every registered detector passes the conformance kit (planted problem, sign, shape, ...)."""

import pytest

from hfcbench.detectors import DETECTORS
from hfcbench.detectors.base import Detector
from hfcbench.errors import InvalidParameterError
from hfcbench.testing import check_detector, planted_features


@pytest.mark.parametrize("name", DETECTORS.names())
def test_registered_detector_conforms(name):
    aucs = check_detector(DETECTORS.get(name))
    assert aucs["planted"] >= 0.9 and abs(aucs["clean_vs_clean"] - 0.5) <= 0.15


def test_the_kit_catches_a_reversed_sign():
    from hfcbench.detectors.maha import MAHA

    class Backwards(MAHA):
        def _score(self, feats):
            return -super()._score(feats)

    with pytest.raises(AssertionError, match="sign"):
        check_detector(Backwards)


def test_the_kit_catches_a_wrong_shape():
    from hfcbench.detectors.svm import SVM

    class Column(SVM):
        def score(self, feats):
            return super().score(feats)[:, None]

    with pytest.raises(AssertionError, match="shape"):
        check_detector(Column)


@pytest.mark.parametrize("name,params,needle", [
    ("lid", {"k": 1}, "parameter k must be"),
    ("lid", {"batch_size": 10}, "parameter batch_size must be an int larger than k=20"),
    ("kd", {"bandwidth": -1.0}, "parameter bandwidth"),
    ("bu", {"drop_rate": 1.5}, "parameter drop_rate"),
    ("svm", {"C": 0}, "parameter C"),
    ("hfc", {"n_components": 0}, "parameter n_components"),
])
def test_out_of_range_parameters_are_named(name, params, needle):
    clean, adv = planted_features(60, adversarial=False, seed=0), planted_features(60, adversarial=True, seed=1)
    with pytest.raises(InvalidParameterError, match=needle):
        DETECTORS.get(name)(**params).fit(clean, adv)


def test_nan_features_give_a_clear_error():
    clean, adv = planted_features(60, adversarial=False, seed=0), planted_features(60, adversarial=True, seed=1)
    adv.layers["block1"][3, 2] = float("nan")
    with pytest.raises(InvalidParameterError, match="adv features: layer 'block1' holds NaN"):
        DETECTORS.get("maha")().fit(clean, adv)


def test_a_detector_that_ignores_the_reference_keeps_working():
    """A plugin written before ``reference`` existed (``_fit(clean, adv, noisy)``) passes the kit and
    is fitted with and without a reference alike."""
    import numpy as np

    from hfcbench.detectors.base import Detector

    class OldStyle(Detector):
        requires = frozenset({"penultimate"})

        def _fit(self, clean, adv, noisy):  # distance to the nearest clean class centroid
            z, labels = clean.array("penultimate"), clean.labels.numpy()
            self.centres_ = np.stack([z[labels == c].mean(0) for c in np.unique(labels)])

        def characteristics(self, feats):
            z = feats.array("penultimate")
            return {"penultimate": np.linalg.norm(z[:, None] - self.centres_[None], axis=2).min(1)}

        def _score(self, feats):
            return self.characteristics(feats)["penultimate"]

    assert check_detector(OldStyle)["planted"] >= 0.9
    clean, adv = planted_features(60, adversarial=False, seed=0), planted_features(60, adversarial=True, seed=1)
    reference = planted_features(60, adversarial=False, seed=2)
    np.testing.assert_array_equal(OldStyle().fit(clean, adv, reference=reference).score(adv),
                                  OldStyle().fit(clean, adv).score(adv))


def test_detectors_are_detector_subclasses():
    for name in DETECTORS.names():
        assert issubclass(DETECTORS.get(name), Detector)


@pytest.mark.parametrize("name", DETECTORS.names())
def test_every_built_in_detector_has_a_differentiable_score(name):
    assert DETECTORS.get(name)().differentiable  # check_detector compares its torch_score with score


def test_the_kit_catches_a_torch_score_that_is_not_the_score():
    from hfcbench.detectors.lid import LID
    from hfcbench.detectors.maha import MAHA

    class Drifting(LID):  # LID's score searches neighbours with FAISS, its torch_score densely
        def torch_score(self, feats):
            return super().torch_score(feats) * 1.01

    with pytest.raises(AssertionError, match="torch_score differs from score"):
        check_detector(Drifting)

    class Detached(MAHA):
        def torch_score(self, feats):
            return super().torch_score(feats).detach()

    with pytest.raises(AssertionError, match="not differentiable"):
        check_detector(Detached)
