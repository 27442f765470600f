"""The content-keyed cache: torch entries, pickled entries, corrupt and unpicklable objects."""

import pytest
import torch

from hfcbench.cache import Cache, content_key


class Fitted:
    def __init__(self, value):
        self.value = value


def test_content_key_changes_with_every_part():
    base = content_key(a=1, b=[1, 2])
    assert base == content_key(b=[1, 2], a=1)  # order of keywords does not matter
    assert base != content_key(a=2, b=[1, 2]) and base != content_key(a=1, b=[2, 1])


def test_pickled_objects_round_trip_and_compute_runs_once(tmp_path):
    cache, calls = Cache(tmp_path), []

    def compute():
        calls.append(1)
        return Fitted(torch.arange(3))

    first = cache.get_or_compute("detectors", "k", compute, pickled=True)
    second = cache.get_or_compute("detectors", "k", compute, pickled=True)
    assert calls == [1] and torch.equal(second.value, first.value) and second is not first
    assert cache.path("detectors", "k", pickled=True).suffix == ".pkl"
    assert Cache(tmp_path, enabled=False).load("detectors", "k", pickled=True) is None


def test_unpicklable_object_is_returned_but_not_cached(tmp_path):
    cache = Cache(tmp_path)
    with pytest.warns(UserWarning, match="cannot be pickled"):
        value = cache.get_or_compute("detectors", "k", lambda: Fitted(lambda x: x), pickled=True)
    assert value.value(3) == 3 and not cache.path("detectors", "k", pickled=True).exists()


@pytest.mark.parametrize("pickled", [False, True])
def test_corrupt_entry_is_a_miss_and_removed(tmp_path, pickled):
    cache = Cache(tmp_path)
    path = cache.path("aes", "k", pickled=pickled)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a cache entry")
    with pytest.warns(UserWarning, match="unreadable cache entry"):
        assert cache.load("aes", "k", pickled=pickled) is None
    assert not path.exists()
