"""Content-keyed, atomic on-disk cache for checkpoints, features, AEs and fitted detectors.

A key hashes every parameter that changes the cached object (dataset fingerprint, model,
hyper-parameters, seed, hfcbench version) and the source of the code that computes it
(:func:`source_fingerprint`), so neither a changed parameter nor an edit to that code within one
version can return a stale object. Writes go to a temporary file that is renamed into place, so
a run killed mid-write leaves no half file. Objects are dicts of tensors and plain values, read back with
``torch.load(weights_only=True)``; fitted detectors (arbitrary estimator objects, as scikit-learn
persists them) are pickled instead (``pickled=True``): the cache folder is the user's own, so
never point ``--cache-dir`` at files you did not write. An object that cannot be pickled (a
plugin holding a lambda, say) is simply not cached, with a warning.

The root is, in order: the ``root`` argument (``--cache-dir``), ``$HFCBENCH_CACHE``, then
``~/.cache/hfcbench``.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import os
import pickle
import tempfile
import warnings
from pathlib import Path
from typing import Any, Callable

import torch

from . import __version__

CACHE_ENV = "HFCBENCH_CACHE"


def content_key(**parts: Any) -> str:
    """A 24-hex-digit hash of ``parts`` (JSON with sorted keys) plus the hfcbench version."""
    payload = json.dumps({"version": __version__, **parts}, sort_keys=True, default=repr)
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


@functools.lru_cache(maxsize=None)
def source_fingerprint(*modules: str, root: Path = Path(__file__).parent) -> str:
    """A 16-hex-digit hash of the source files of ``modules``, dotted names under ``root`` (the
    hfcbench package): ``"gmm"`` is ``gmm.py``; a subpackage such as ``"attacks"`` covers every
    ``.py`` file below it. Read once per process."""
    digest = hashlib.sha256()
    for name in modules:
        path = root.joinpath(*name.split("."))
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path.with_suffix(".py")]
        if not files[0].is_file():
            raise FileNotFoundError(f"no module {name!r} under {root}")
        for file in files:
            digest.update(file.relative_to(root).as_posix().encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()[:16]


def class_fingerprint(cls: type) -> str:
    """The class's import path and a hash of its own source (a plugin's code is outside
    :func:`source_fingerprint`'s reach); the import path alone when the source is unavailable."""
    name = f"{cls.__module__}.{cls.__qualname__}"
    try:
        return f"{name}:{hashlib.sha256(inspect.getsource(cls).encode()).hexdigest()[:16]}"
    except (OSError, TypeError):
        return name


def atomic_write_bytes(path: Path, write: Callable[[Any], None]) -> Path:
    """Call ``write(handle)`` on a temporary file beside ``path``, then rename it to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


class Cache:
    """``Cache(root, enabled=True)``; with ``enabled=False`` (``--no-cache``) nothing is read,
    but results are still written, so the next cached run reuses the fresh values."""

    def __init__(self, root: str | os.PathLike | None = None, *, enabled: bool = True):
        self.root = Path(root or os.environ.get(CACHE_ENV) or "~/.cache/hfcbench").expanduser()
        self.enabled = enabled

    def path(self, kind: str, key: str, *, pickled: bool = False) -> Path:
        return self.root / kind / f"{key}.{'pkl' if pickled else 'pt'}"

    def load(self, kind: str, key: str, *, pickled: bool = False) -> Any | None:
        """The cached object, or None when absent, disabled or unreadable (then it is removed)."""
        path = self.path(kind, key, pickled=pickled)
        if not self.enabled or not path.exists():
            return None
        try:
            if pickled:
                with open(path, "rb") as handle:
                    return pickle.load(handle)
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # a corrupt cache entry is a miss, never a crash
            warnings.warn(f"ignoring unreadable cache entry {path} ({exc}); it will be recomputed")
            path.unlink(missing_ok=True)
            return None

    def save(self, kind: str, key: str, obj: Any, *, pickled: bool = False) -> Path | None:
        """Write ``obj``; returns the path, or None when ``obj`` cannot be pickled (warned)."""
        if not pickled:
            return atomic_write_bytes(self.path(kind, key), lambda handle: torch.save(obj, handle))
        try:
            payload = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, AttributeError, TypeError) as exc:
            warnings.warn(f"{type(obj).__name__} cannot be pickled ({exc}); it is not cached and will be recomputed")
            return None
        return atomic_write_bytes(self.path(kind, key, pickled=True), lambda handle: handle.write(payload))

    def get_or_compute(self, kind: str, key: str, compute: Callable[[], Any], *, pickled: bool = False) -> Any:
        cached = self.load(kind, key, pickled=pickled)
        if cached is not None:
            return cached
        value = compute()
        self.save(kind, key, value, pickled=pickled)
        return value
