import warnings

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist
from sklearn.mixture import GaussianMixture as SkGMM

from hfcbench.errors import InvalidParameterError
from hfcbench.gmm import GaussianMixture
from hfcbench.knn import knn_distances
from hfcbench.mixtures import fit_class_mixtures


def test_knn_matches_cdist_sort():
    rng = np.random.default_rng(0)
    ref, query = rng.normal(size=(500, 64)), rng.normal(size=(40, 64))
    expected = np.sort(cdist(query, ref), axis=1)[:, :20]
    np.testing.assert_allclose(knn_distances(query, ref, 20), expected, rtol=1e-6)


def test_near_zero_distances_are_exact_despite_float32_products():
    import faiss

    rng = np.random.default_rng(1)
    ref = (rng.random((10_000, 512)) * 10 + 100).astype(np.float32)  # large norms, d = 512
    index = faiss.IndexFlatL2(512)
    index.add(ref)
    naive, _ = index.search(ref[:1000], 1)  # many queries: FAISS takes its matrix-product path
    assert (naive[:, 0] > 1.0).any()  # the bare float32 distance of a point to itself
    assert np.all(knn_distances(ref[:200], ref, 1) == 0.0)
    assert np.all(knn_distances(ref[:5], ref, 1, skip_zero=True) > 1.0)
    query = (ref[:5] + np.float32(0.25)).astype(np.float32)
    exact = np.sqrt(((query.astype(np.float64) - ref[:5]) ** 2).sum(1))  # on the float32 values
    assert exact[0] == pytest.approx(0.25 * np.sqrt(512), rel=1e-3)
    np.testing.assert_allclose(knn_distances(query, ref, 1)[:, 0], exact, rtol=1e-6)


def test_knn_bad_k():
    with pytest.raises(InvalidParameterError, match="k must be in"):
        knn_distances(np.zeros((2, 3)), np.zeros((4, 3)), 5)


@pytest.mark.parametrize("d", [10, 200])  # 200: above the size where torch's batched LU fails
def test_gmm_log_likelihood_matches_sklearn_from_same_start(d):
    rng = np.random.default_rng(2)
    centers = rng.normal(size=(4, d)) * 4
    x = centers[rng.integers(0, 4, 600)] + rng.normal(size=(600, d)) @ (0.3 * rng.normal(size=(d, d)) + np.eye(d))
    ours = GaussianMixture(4, max_iter=1, tol=0.0)
    resp = ours._kmeans_resp(torch.from_numpy(x))
    start = GaussianMixture(4, max_iter=1)
    start._m_step(torch.from_numpy(x), resp)
    precisions = (start.inv_chol_.transpose(1, 2) @ start.inv_chol_).numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk = SkGMM(4, covariance_type="full", max_iter=15, tol=0.0, weights_init=start.weights_.numpy(),
                   means_init=start.means_.numpy(), precisions_init=precisions).fit(x)
    ours = GaussianMixture(4, max_iter=15, tol=0.0).fit(x, resp)
    assert ours.lower_bound_ == pytest.approx(sk.lower_bound_, rel=1e-6)
    assert float(ours.score_samples(torch.from_numpy(x)).mean()) == pytest.approx(sk.score(x), rel=1e-6)


def test_gmm_errors_and_fallback():
    x = np.random.default_rng(3).normal(size=(10, 3))
    with pytest.raises(InvalidParameterError, match="M=16 components needs at least 16 samples"):
        GaussianMixture(16).fit(x)
    with pytest.warns(UserWarning, match="using M=5"):
        mixtures = fit_class_mixtures(x, np.zeros(10, int), 16)
    assert mixtures[0].n_components == 5
    with pytest.raises(InvalidParameterError, match="class 1 has 1 clean sample"):
        fit_class_mixtures(x, np.r_[np.zeros(9, int), 1], 2)


def test_gmm_state_round_trip():
    x = np.random.default_rng(4).normal(size=(100, 4))
    gmm = GaussianMixture(3).fit(x)
    back = GaussianMixture.from_state(gmm.to_state())
    t = torch.from_numpy(x)
    assert torch.allclose(back.score_samples(t), gmm.score_samples(t))
