"""Each detector's characteristic against an independent computation of the paper's formula."""

from collections import OrderedDict

import numpy as np
import pytest
import torch
from sklearn.mixture import GaussianMixture as SkGMM
from sklearn.neighbors import KernelDensity

from hfcbench.detectors.bu import BU
from hfcbench.detectors.hfc import HFC
from hfcbench.detectors.kd import KD
from hfcbench.detectors.lid import LID, lid_mle
from hfcbench.detectors.maha import MAHA
from hfcbench.models.features import Features


def features(layers: dict, logits=None, weight=None, bias=None) -> Features:
    layers = OrderedDict((k, torch.as_tensor(np.asarray(v, dtype=np.float64))) for k, v in layers.items())
    n = len(next(iter(layers.values())))
    logits = torch.zeros(n, 2, dtype=torch.float64) if logits is None else torch.as_tensor(logits)
    return Features(logits, layers, None, weight, bias)


def test_lid_by_hand():
    # distances 1, 2, 3 with k = 3: -1 / mean(log(1/3), log(2/3), 0)
    expected = -1.0 / np.mean(np.log([1 / 3, 2 / 3, 1.0]))
    assert lid_mle(np.array([[1.0, 2.0, 3.0]]))[0] == pytest.approx(expected)
    assert expected == pytest.approx(1.994578, abs=1e-6)  # 3 / (1.098612 + 0.405465)


def test_lid_characteristic_on_a_line():
    # one reference minibatch of points at 1..25 on a line; the query at 0 sees r_i = i (k = 20)
    ref = np.zeros((25, 3))
    ref[:, 0] = np.arange(1, 26)
    clean = features({"penultimate": ref})
    adv = features({"penultimate": ref + 0.5})
    lid = LID(k=20, batch_size=21).fit(clean, adv)
    value = lid.characteristics(features({"penultimate": np.zeros((1, 3))}))["penultimate"][0]
    assert value == pytest.approx(-1.0 / np.mean(np.log(np.arange(1, 21) / 20)))


def test_lid_skips_duplicates_instead_of_log_zero():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(50, 4))
    ref[10:15] = ref[0]                       # five duplicates of one point
    clean, adv = features({"penultimate": ref}), features({"penultimate": ref + 3})
    lid = LID(k=5, batch_size=50).fit(clean, adv)
    values = lid.characteristics(features({"penultimate": ref[:1]}))["penultimate"]
    assert np.isfinite(values).all() and values[0] > 0


def test_kd_matches_sklearn_kernel_density():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(80, 5))
    logits = np.stack([z[:, 0], -z[:, 0]], 1)  # predicted class = sign of the first feature
    clean = features({"penultimate": z}, logits)
    kd = KD(bandwidth=0.7).fit(clean, clean)
    query = rng.normal(size=(30, 5))
    q_logits = np.stack([query[:, 0], -query[:, 0]], 1)
    got = kd.characteristics(features({"penultimate": query}, q_logits))["kernel_density"]
    for cls in (0, 1):
        reference = z[logits.argmax(1) == cls]
        rows = q_logits.argmax(1) == cls
        expected = KernelDensity(bandwidth=0.7).fit(reference).score_samples(query[rows])
        np.testing.assert_allclose(got[rows], expected, rtol=1e-10)


def test_bu_formula_and_limits():
    rng = np.random.default_rng(2)
    z = rng.normal(size=(40, 6))
    weight, bias = torch.from_numpy(rng.normal(size=(3, 6))), torch.from_numpy(rng.normal(size=3))
    feats = features({"penultimate": z}, weight=weight, bias=bias)
    bu = BU(n_passes=50, drop_rate=0.3, seed=7).fit(feats, feats)
    got = bu.characteristics(feats)["bayesian_uncertainty"]
    # the paper's formula with the same masks, written with numpy
    generator = torch.Generator().manual_seed(7)
    probs = []
    for _ in range(50):
        mask = (torch.rand((40, 6), generator=generator) < 0.7).double().numpy() / 0.7
        logits = (z * mask) @ weight.numpy().T + bias.numpy()
        e = np.exp(logits - logits.max(1, keepdims=True))
        probs.append(e / e.sum(1, keepdims=True))
    probs = np.array(probs)
    expected = (probs ** 2).sum(2).mean(0) - (probs.mean(0) ** 2).sum(1)
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    no_dropout = BU(drop_rate=0.0).fit(feats, feats).characteristics(feats)["bayesian_uncertainty"]
    np.testing.assert_allclose(no_dropout, 0.0, atol=1e-13)


def test_maha_matches_numpy_inverse():
    rng = np.random.default_rng(3)
    f = rng.normal(size=(120, 6)) @ rng.normal(size=(6, 6))
    labels = (f[:, 0] > 0).astype(int)
    logits = np.stack([1.0 - labels, labels.astype(float)], 1)
    clean = features({"layer": f}, logits)
    maha = MAHA(shrinkage=0.0).fit(clean, features({"layer": f + 5}, logits))
    query = rng.normal(size=(10, 6))
    got = maha.characteristics(features({"layer": query}, np.zeros((10, 2))))["layer"]
    means = np.stack([f[labels == c].mean(0) for c in (0, 1)])
    resid = f - means[labels]
    precision = np.linalg.inv(resid.T @ resid / len(f))
    expected = np.min([np.einsum("ni,ij,nj->n", query - m, precision, query - m) for m in means], axis=0)
    np.testing.assert_allclose(got, expected, rtol=1e-8)


def test_hfc_score_is_mahalanobis_of_the_most_likely_component():
    rng = np.random.default_rng(4)
    z = np.concatenate([rng.normal(size=(150, 3)), rng.normal(size=(150, 3)) + 6])
    logits = np.tile([1.0, 0.0], (300, 1))  # every sample predicted as class 0
    clean = features({"penultimate": z}, logits)
    hfc = HFC(n_components=2, reg=1e-6).fit(clean, clean)
    query = rng.normal(size=(20, 3)) * 3 + 3
    got = hfc.characteristics(features({"penultimate": query}, np.tile([1.0, 0.0], (20, 1))))["penultimate"]
    gmm = hfc.mixtures_[0]
    means, covs = gmm.means_.numpy(), (gmm.chol_ @ gmm.chol_.transpose(1, 2)).numpy()
    weights = gmm.weights_.numpy()
    maha = np.stack([np.einsum("ni,ij,nj->n", query - m, np.linalg.inv(c), query - m) for m, c in zip(means, covs)], 1)
    log_prob = np.log(weights) - 0.5 * (np.log(np.linalg.det(covs)) + maha)
    np.testing.assert_allclose(got, maha[np.arange(20), log_prob.argmax(1)], rtol=1e-8)
    # the mixture found the two clusters
    sk = SkGMM(2, random_state=0).fit(z)
    np.testing.assert_allclose(np.sort(means[:, 0]), np.sort(sk.means_[:, 0]), atol=1e-3)
