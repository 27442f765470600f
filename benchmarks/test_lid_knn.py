"""LID's kNN: FAISS (+ exact re-ranking) against the reference approach of Ma et al.'s code
(``scipy.spatial.distance.cdist`` then a sort), n = 10,000 reference points, d = 512, k = 20."""

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from hfcbench.detectors.lid import lid_mle
from hfcbench.knn import knn_distances

N_REF, N_QUERY, DIM, K = 10_000, 1_000, 512, 20


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return rng.random((N_QUERY, DIM), dtype=np.float32).astype(np.float64), rng.random((N_REF, DIM))


def reference_lid(query, ref):
    distances = np.sort(cdist(query, ref), axis=1)[:, :K]
    return lid_mle(distances)


def faiss_lid(query, ref):
    return lid_mle(knn_distances(query, ref, K))


@pytest.mark.benchmark(group="lid-knn")
def test_reference_cdist_sort(benchmark, data):
    benchmark.pedantic(reference_lid, args=data, rounds=3, iterations=1)


@pytest.mark.benchmark(group="lid-knn")
def test_faiss(benchmark, data):
    result = benchmark.pedantic(faiss_lid, args=data, rounds=3, iterations=1)
    np.testing.assert_allclose(result, reference_lid(*data), rtol=1e-4)
