import numpy as np
import pytest

from hfcbench.datasets.splits import stratified_split, stratified_subsample
from hfcbench.errors import InvalidParameterError


def test_hand_worked_split():
    # class 0 has 10 members -> 7 / 3; class 1 has 4 -> round(2.8) = 3 / 1
    labels = np.array([0] * 10 + [1] * 4)
    first, second = stratified_split(labels, 0.7, seed=3)
    assert np.bincount(labels[first]).tolist() == [7, 3]
    assert np.bincount(labels[second]).tolist() == [3, 1]
    assert sorted(np.concatenate([first, second]).tolist()) == list(range(14))


def test_split_is_seeded():
    labels = np.random.default_rng(0).integers(0, 3, 200)
    a, b = stratified_split(labels, 0.7, seed=1), stratified_split(labels, 0.7, seed=1)
    c = stratified_split(labels, 0.7, seed=2)
    assert np.array_equal(a[0], b[0]) and not np.array_equal(a[0], c[0])


def test_fraction_out_of_range():
    with pytest.raises(InvalidParameterError, match="fraction"):
        stratified_split(np.zeros(4), 1.0, seed=0)


def test_subsample_keeps_proportions():
    labels = np.array([0] * 300 + [1] * 100)
    keep = stratified_subsample(labels, 40, seed=0)
    assert np.bincount(labels[keep]).tolist() == [30, 10]
    assert len(stratified_subsample(labels, 10_000, seed=0)) == 400
    with pytest.raises(InvalidParameterError, match="--limit"):
        stratified_subsample(labels, 0, seed=0)
