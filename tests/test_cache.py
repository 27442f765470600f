"""The content-keyed cache: torch entries, pickled entries, corrupt and unpicklable objects, and
code fingerprints in the keys."""

import importlib
import subprocess
import sys

import pytest
import torch

from hfcbench.cache import Cache, class_fingerprint, content_key, source_fingerprint
from hfcbench.models.zoo import CHECKPOINT_CODE
from hfcbench.protocol.artifacts import CODE


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
def test_corrupt_entry_is_a_miss_and_moved_aside(tmp_path, pickled):
    cache = Cache(tmp_path)
    path = cache.path("aes", "k", pickled=pickled)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a cache entry")
    with pytest.warns(UserWarning, match="is not usable .*moved to k.p.*bad and recomputed"):
        assert cache.load("aes", "k", pickled=pickled) is None
    assert not path.exists() and path.with_name(path.name + ".bad").read_bytes() == b"not a cache entry"


@pytest.mark.parametrize("foreign", [{"state_dict": {}}, torch.zeros(3), "entry of another key"])
def test_an_entry_that_is_not_what_its_key_names_is_recomputed(tmp_path, foreign):
    """A file of another structure, or another entry copied to this key's path, is refused on load."""
    cache = Cache(tmp_path)
    if foreign == "entry of another key":
        cache.save("aes", "other", {"x": torch.ones(2)})
        cache.path("aes", "other").rename(cache.path("aes", "k"))
    else:
        cache.path("aes", "k").parent.mkdir(parents=True)
        torch.save(foreign, cache.path("aes", "k"))
    with pytest.warns(UserWarning, match="not a aes entry for this key"):
        value = cache.get_or_compute("aes", "k", lambda: {"x": torch.zeros(2)})
    assert torch.equal(value["x"], torch.zeros(2))
    assert torch.equal(cache.load("aes", "k")["x"], torch.zeros(2))  # the recomputed entry is good


def test_a_value_its_reader_refuses_is_recomputed(tmp_path):
    cache = Cache(tmp_path)
    cache.save("checkpoints", "k", {"weights": 1})

    def refuse(value):
        raise KeyError("state_dict")

    with pytest.warns(UserWarning, match="KeyError"):
        assert cache.get_or_compute("checkpoints", "k", lambda: {"state_dict": 2}, check=refuse) == {"state_dict": 2}


def test_two_processes_never_compute_one_entry_twice(tmp_path):
    """Two processes ask for the same entry at once: one computes it, the other waits and reads it."""
    script = (
        "import sys, time; from hfcbench.cache import Cache\n"
        "def slow():\n    open(sys.argv[2], 'a').write('computed\\n'); time.sleep(2); return {'v': 7}\n"
        "print(Cache(sys.argv[1]).get_or_compute('aes', 'k', slow)['v'])\n")
    log = tmp_path / "log"
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "cache"), str(log)], stdout=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert outputs == ["7", "7"] and log.read_text() == "computed\n"


def test_source_fingerprint_follows_the_named_sources_only(tmp_path):
    (tmp_path / "attacks").mkdir()
    (tmp_path / "attacks" / "bim.py").write_text("STEP = 1\n")
    (tmp_path / "gmm.py").write_text("M = 16\n")
    (tmp_path / "cli.py").write_text("print()\n")
    before = source_fingerprint("attacks", "gmm", root=tmp_path)
    (tmp_path / "cli.py").write_text("print('changed')\n")
    assert source_fingerprint("attacks", "gmm", root=tmp_path) == before
    (tmp_path / "attacks" / "bim.py").write_text("STEP = 2\n")
    source_fingerprint.cache_clear()
    assert source_fingerprint("attacks", "gmm", root=tmp_path) != before
    with pytest.raises(FileNotFoundError, match="'knn'"):
        source_fingerprint("knn", root=tmp_path)


def test_class_fingerprint_changes_with_the_class_source(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    module = tmp_path / "my_detector_plugin.py"
    module.write_text("class Plugin:\n    k = 1\n")
    first = class_fingerprint(importlib.import_module("my_detector_plugin").Plugin)
    module.write_text("class Plugin:\n    k = 20\n")
    second = class_fingerprint(importlib.reload(sys.modules["my_detector_plugin"]).Plugin)
    assert first.startswith("my_detector_plugin.Plugin:") and first != second
    assert class_fingerprint(int) == "builtins.int"  # no source: the import path alone


@pytest.mark.parametrize("kind, registry", [("aes", "ATTACKS"), ("detector", "DETECTORS")])
def test_cache_keys_cover_every_module_the_computation_imports(kind, registry):
    """Every hfcbench module that the built-in attacks (detectors) import is in that kind's code
    fingerprint, in the checkpoint's (architectures, training, datasets), or holds no numerics
    (errors, registry, device, cache, the allocator settings, which a test shows change no number;
    the package ``__init__`` holds the version, which is in every key)."""
    package = "hfcbench.attacks" if registry == "ATTACKS" else "hfcbench.detectors"
    out = subprocess.run([sys.executable, "-c", f"import sys; from {package} import {registry} as r; "
                          "[r.get(n) for n in r.names()]; "
                          "print(*[m for m in sys.modules if m.startswith('hfcbench.')])"],
                         capture_output=True, text=True, check=True).stdout.split()
    covered = {*CODE[kind], *CHECKPOINT_CODE, "errors", "registry", "device", "cache", "allocator"}
    assert len(out) > 5
    for name in out:
        parts = name.split(".")[1:]  # "hfcbench.attacks.bim" -> ["attacks", "bim"]
        prefixes = {".".join(parts[:i]) for i in range(1, len(parts) + 1)} | {".".join([*parts, "__init__"])}
        assert prefixes & covered, f"{name} not in CODE[{kind!r}]"


def test_every_models_module_is_either_in_the_checkpoint_key_or_keyed_downstream():
    """A new file under models/ must be classified: in CHECKPOINT_CODE (it shapes trained weights),
    features.py (feature extraction, in the keys of everything computed from a checkpoint) or
    fast.py (the attack copy of a model, in the keys of everything an attack computes)."""
    from pathlib import Path

    import hfcbench.models

    modules = {f"models.{p.stem}" for p in Path(hfcbench.models.__file__).parent.glob("*.py")}
    assert modules - set(CHECKPOINT_CODE) == {"models.features", "models.fast"}
    assert all("models.features" in CODE[kind] for kind in CODE)
    assert all("models.fast" in CODE[kind] for kind in ("budget", "aes", "checks"))  # what runs attacks
