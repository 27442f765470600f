"""The post-hoc OOD scores (energy, knn, vim, rmd, maha++) against independent computations of
their papers' formulas, as the official codes compute them (scipy, scikit-learn, numpy)."""

from collections import OrderedDict

import numpy as np
import pytest
import torch
from scipy.linalg import pinvh
from scipy.special import logsumexp
from sklearn.covariance import EmpiricalCovariance
from sklearn.neighbors import NearestNeighbors

from hfcbench.detectors import DETECTORS
from hfcbench.detectors.deep_knn import DeepKNN
from hfcbench.detectors.energy import Energy
from hfcbench.detectors.maha import MAHA, MAHAPlusPlus
from hfcbench.detectors.rmd import RMD
from hfcbench.detectors.vim import ViM, principal_dim
from hfcbench.errors import InvalidParameterError
from hfcbench.models.features import PENULTIMATE, Features


def penultimate(f, weight=None, bias=None, labels=None) -> Features:
    """Features whose only layer is the penultimate ``f`` (N, D); logits from (weight, bias)."""
    f = torch.as_tensor(np.asarray(f, dtype=np.float64))
    weight = torch.as_tensor(np.asarray(weight if weight is not None else np.ones((2, f.shape[1])), dtype=np.float64))
    bias = torch.as_tensor(np.asarray(bias if bias is not None else np.zeros(len(weight)), dtype=np.float64))
    logits = f @ weight.T + bias
    labels = None if labels is None else torch.as_tensor(np.asarray(labels), dtype=torch.long)
    return Features(logits, OrderedDict([(PENULTIMATE, f)]), labels, weight, bias)


def data(seed=0, n=300, d=12, k=3):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    centres = rng.normal(scale=3, size=(k, d))
    f = centres[labels] + rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) * 0.5
    weight, bias = rng.normal(size=(k, d)), rng.normal(size=k)
    return rng, penultimate(f, weight, bias, labels), (f, labels, weight, bias)


def fitted(detector, reference):
    clean = reference.subset(np.arange(20))
    return detector.fit(clean, reference.subset(np.arange(20, 40)), reference=reference)


def test_energy_is_minus_t_logsumexp_of_the_logits():
    logits = np.array([[2.0, -1.0, 0.5], [10.0, 10.0, 10.0], [-3.0, 4.0, 0.0]])
    feats = Features(torch.tensor(logits), OrderedDict([(PENULTIMATE, torch.zeros(3, 2, dtype=torch.float64))]))
    for t in (1.0, 2.5):
        got = Energy(temperature=t).fit(feats, feats).score(feats)
        np.testing.assert_allclose(got, -t * logsumexp(logits / t, axis=1), rtol=1e-12)
    # by hand: three equal logits of 10 at T = 1 give -(10 + log 3)
    assert Energy().fit(feats, feats).score(feats)[1] == pytest.approx(-(10 + np.log(3)), rel=1e-12)
    with pytest.raises(InvalidParameterError, match="parameter temperature must be a positive number, got 0"):
        Energy(temperature=0).fit(feats, feats)


def test_knn_is_the_kth_distance_among_normalised_training_features():
    rng, reference, (f, *_) = data(seed=1)
    query = rng.normal(size=(25, f.shape[1]))
    unit = f / np.linalg.norm(f, axis=1, keepdims=True)
    q_unit = query / np.linalg.norm(query, axis=1, keepdims=True)
    for k in (1, 7, 50):
        got = fitted(DeepKNN(k=k), reference).score(penultimate(query))
        expected = NearestNeighbors(n_neighbors=k).fit(unit).kneighbors(q_unit)[0][:, -1]
        np.testing.assert_allclose(got, expected, rtol=1e-9)
    # scaling an input's features does not move its score (normalised features)
    detector = fitted(DeepKNN(k=5), reference)
    np.testing.assert_allclose(detector.score(penultimate(3 * query)), detector.score(penultimate(query)), rtol=1e-9)


def test_knn_with_more_neighbours_than_training_images_says_so_in_one_line():
    _, reference, _ = data(seed=2, n=60)
    with pytest.raises(InvalidParameterError, match=r"^knn: k = 100 neighbours need at least 100 reference "
                                                    r"\(training\) images, got 60; .*smaller k$"):
        fitted(DeepKNN(k=100), reference)


def vim_as_the_official_code(f_train, logits_train, weight, bias, f, logits, dim):
    """haoqiwang/vim benchmark.py: u = -pinv(W) b; EmpiricalCovariance(assume_centered=True) of
    f - u; np.linalg.eig; the eigenvectors beyond the dim largest; alpha from means; the score
    logsumexp - vlogit, negated here (higher = more adversarial)."""
    u = -np.matmul(np.linalg.pinv(weight), bias)
    ec = EmpiricalCovariance(assume_centered=True).fit(f_train - u)
    values, vectors = np.linalg.eig(ec.covariance_)
    ns = np.ascontiguousarray((vectors.T[np.argsort(values * -1)[dim:]]).T)
    v_train = np.linalg.norm(np.matmul(f_train - u, ns), axis=-1)
    alpha = logits_train.max(axis=-1).mean() / v_train.mean()
    vlogit = np.linalg.norm(np.matmul(f - u, ns), axis=-1) * alpha
    return -(logsumexp(logits, axis=-1) - vlogit)


def test_vim_matches_the_official_computation():
    rng, reference, (f, _, weight, bias) = data(seed=3, d=16)
    query = penultimate(rng.normal(scale=2, size=(30, 16)), weight, bias)
    for dim in (None, 4, 12):
        got = fitted(ViM(dim=dim), reference).score(query)
        expected = vim_as_the_official_code(f, reference.array("logits"), weight, bias, query.array(PENULTIMATE),
                                            query.array("logits"), principal_dim(16) if dim is None else dim)
        np.testing.assert_allclose(got, expected, rtol=1e-7, atol=1e-9)
    assert [principal_dim(d) for d in (64, 768, 2048, 4096)] == [32, 512, 1000, 1000]
    with pytest.raises(InvalidParameterError, match=r"parameter dim must be None or a whole number in \[1, 15\]"):
        fitted(ViM(dim=16), reference)


def test_rmd_matches_openoods_computation():
    rng, reference, (f, labels, *_) = data(seed=4)
    query = rng.normal(scale=3, size=(40, f.shape[1]))
    # OpenOOD rmds_postprocessor: class-centred features -> tied EmpiricalCovariance, pinvh;
    # the background: all features about their mean; score = -max_k (-(MD_k) + MD_0), negated
    means = np.stack([f[labels == c].mean(0) for c in range(3)])
    precision = pinvh(EmpiricalCovariance(assume_centered=False).fit(f - means[labels]).covariance_)
    background = EmpiricalCovariance(assume_centered=False).fit(f)
    md = np.stack([np.einsum("ni,ij,nj->n", query - m, precision, query - m) for m in means], 1)
    md0 = np.einsum("ni,ij,nj->n", query - f.mean(0), pinvh(background.covariance_), query - f.mean(0))
    expected = -np.max(-md + md0[:, None], axis=1)
    detector = fitted(RMD(), reference)
    np.testing.assert_allclose(detector.score(penultimate(query)), expected, rtol=1e-8)
    per_class = detector.characteristics(penultimate(query))
    assert sorted(per_class) == ["rmd_0", "rmd_1", "rmd_2"]
    np.testing.assert_allclose(per_class["rmd_1"], md[:, 1] - md0, rtol=1e-8)


def unit_of(feats: Features) -> Features:
    f = feats.array(PENULTIMATE)
    return penultimate(f / np.linalg.norm(f, axis=1, keepdims=True))


def test_maha_plus_plus_is_maha_on_unit_vectors():
    rng, reference, (f, labels, weight, bias) = data(seed=5)
    unit = f / np.linalg.norm(f, axis=1, keepdims=True)
    clean, adv = penultimate(rng.normal(size=(30, 12))), penultimate(rng.normal(size=(30, 12)) + 4)
    plus = MAHAPlusPlus().fit(clean, adv, reference=reference)
    plain = MAHA().fit(unit_of(clean), unit_of(adv), reference=penultimate(unit, weight, bias, labels))
    query = penultimate(rng.normal(size=(20, 12)))
    np.testing.assert_allclose(plus.characteristics(query)[PENULTIMATE],
                               plain.characteristics(unit_of(query))[PENULTIMATE], rtol=1e-8)
    np.testing.assert_allclose(plus.score(query), plain.score(unit_of(query)), rtol=1e-8)
    assert DETECTORS.get("maha++") is MAHAPlusPlus and MAHAPlusPlus().get_params()["normalize"] is True


def test_rmd_ignores_a_channel_dead_in_training_as_pinvh_does():
    rng, _, (f, labels, weight, bias) = data(seed=6)
    f[:, 3] = 0.0  # a ReLU channel never active on the training images
    reference = penultimate(f, weight, bias, labels)
    query = rng.normal(size=(10, f.shape[1]))
    means = np.stack([f[labels == c].mean(0) for c in range(3)])
    precision = pinvh(np.cov((f - means[labels]).T, bias=True))
    background = pinvh(np.cov(f.T, bias=True))
    md = np.stack([np.einsum("ni,ij,nj->n", query - m, precision, query - m) for m in means], 1)
    md0 = np.einsum("ni,ij,nj->n", query - f.mean(0), background, query - f.mean(0))
    np.testing.assert_allclose(fitted(RMD(), reference).score(penultimate(query)), (md - md0[:, None]).min(1),
                               rtol=1e-7)


def test_vim_takes_a_head_without_bias_as_a_zero_bias():
    rng, _, (f, labels, weight, _) = data(seed=7, d=16)
    with_zero = penultimate(f, weight, np.zeros(3), labels)
    without = Features(with_zero.logits, with_zero.layers, with_zero.labels, with_zero.head_weight, None)
    query = penultimate(rng.normal(size=(5, 16)), weight, np.zeros(3))
    np.testing.assert_allclose(fitted(ViM(), without).score(query), fitted(ViM(), with_zero).score(query), rtol=1e-12)
    with pytest.raises(InvalidParameterError, match="parameter dim"):
        fitted(ViM(dim=True), with_zero)


def test_a_fitted_knn_survives_pickling_without_its_index():
    import pickle

    rng, reference, (f, *_) = data(seed=8)
    detector = fitted(DeepKNN(k=5), reference)
    query = penultimate(rng.normal(size=(6, f.shape[1])))
    before = detector.score(query)  # builds the FAISS index
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(detector)).score(query), before)
