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

import fcntl
import functools
import hashlib
import inspect
import json
import os
import pickle
import tempfile
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from . import __version__
from .paths import disk_full, mode_as_new_file, out_of_space

CACHE_ENV = "HFCBENCH_CACHE"


def content_key(**parts: Any) -> str:
    """A 24-hex-digit hash of ``parts`` (JSON with sorted keys) plus the hfcbench version."""
    payload = json.dumps({"version": __version__, **parts}, sort_keys=True, default=repr)
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


@functools.cache
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
    """Call ``write(handle)`` on a temporary file beside ``path``, then rename it to ``path``. A write
    that runs out of space raises one clear :class:`HfcbenchError` and leaves ``path`` as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            mode_as_new_file(handle.fileno())
            write(handle)
        os.replace(tmp, path)
    except (OSError, RuntimeError) as exc:
        if out_of_space(exc):
            raise disk_full(path) from None
        raise
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


class Cache:
    """``Cache(root, enabled=True)``; with ``enabled=False`` (``--no-cache``) nothing is read,
    but results are still written, so the next cached run reuses the fresh values.

    Every entry holds, beside its value, its kind, key and the hfcbench version, and is checked
    on load: an entry that is not what its key names (a file of another structure, a pickle of
    another object, a checkpoint copied from elsewhere), or that its reader refuses (``check``),
    is reported, moved aside (``*.bad``) and recomputed. Two processes on one cache never compute
    one entry twice: the computation holds a lock on the entry (``fcntl.flock``), and the second
    process then reads what the first wrote.
    """

    def __init__(self, root: str | os.PathLike | None = None, *, enabled: bool = True):
        self.root = Path(root or os.environ.get(CACHE_ENV) or "~/.cache/hfcbench").expanduser()
        self.enabled = enabled

    def path(self, kind: str, key: str, *, pickled: bool = False) -> Path:
        return self.root / kind / f"{key}.{'pkl' if pickled else 'pt'}"

    def load(self, kind: str, key: str, *, pickled: bool = False,
             check: Callable[[Any], Any] | None = None) -> Any | None:
        """The cached value, or None when absent, disabled, or not a good entry for (kind, key)
        (then it is moved aside, with a warning). ``check(value)`` may refuse a value by raising."""
        path = self.path(kind, key, pickled=pickled)
        if not self.enabled or not path.exists():
            return None
        try:
            if pickled:
                with open(path, "rb") as handle:
                    entry = pickle.load(handle)
            else:
                entry = torch.load(path, map_location="cpu", weights_only=True)
            label = entry.get(ENTRY) if isinstance(entry, dict) else None
            if label != {"kind": kind, "key": key, "version": __version__}:
                raise ValueError(f"it is not a {kind} entry for this key (it holds {_describe(label, entry)})")
            if check is not None:
                check(entry["value"])
            return entry["value"]
        except Exception as exc:  # a corrupt or foreign cache entry is a miss, never a crash
            first_line = (str(exc).strip().splitlines() or [""])[0][:200]
            self.discard(path, f"{type(exc).__name__}: {first_line}")
            return None

    def discard(self, path: Path, reason: str) -> None:
        """Move a bad entry aside (``PATH.bad``), with a warning that says why."""
        aside = path.with_name(path.name + ".bad")
        warnings.warn(f"cache entry {path} is not usable ({reason}); moved to {aside.name} and recomputed",
                      stacklevel=2)
        try:
            os.replace(path, aside)
        except OSError:
            path.unlink(missing_ok=True)

    def save(self, kind: str, key: str, obj: Any, *, pickled: bool = False) -> Path | None:
        """Write ``obj``; returns the path, or None when ``obj`` cannot be pickled (warned)."""
        entry = {ENTRY: {"kind": kind, "key": key, "version": __version__}, "value": obj}
        if not pickled:
            return atomic_write_bytes(self.path(kind, key), lambda handle: torch.save(entry, handle))
        try:
            payload = pickle.dumps(entry, protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, AttributeError, TypeError) as exc:
            warnings.warn(f"{type(obj).__name__} cannot be pickled ({exc}); it is not cached and will be recomputed",
                          stacklevel=2)
            return None
        return atomic_write_bytes(self.path(kind, key, pickled=True), lambda handle: handle.write(payload))

    @contextmanager
    def lock(self, kind: str, key: str):
        """Hold the entry's lock: no other process computes (kind, key) meanwhile."""
        lock_path = self.root / kind / f"{key}.lock"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def get_or_compute(self, kind: str, key: str, compute: Callable[[], Any], *, pickled: bool = False,
                       check: Callable[[Any], Any] | None = None) -> Any:
        """The cached value of (kind, key), or ``compute()``'d, saved and returned; computed by one
        process at a time (a process that waited for the lock reads the other's result)."""
        cached = self.load(kind, key, pickled=pickled, check=check)
        if cached is not None:
            return cached
        with self.lock(kind, key):
            cached = self.load(kind, key, pickled=pickled, check=check)
            if cached is not None:
                return cached
            value = compute()
            self.save(kind, key, value, pickled=pickled)
            return value


ENTRY = "hfcbench_entry"


def _describe(label, entry) -> str:
    if label is not None:
        return f"kind {label.get('kind')!r}, key {label.get('key')!r}, version {label.get('version')!r}"
    return f"a {type(entry).__name__}" + (f" with keys {sorted(entry)[:5]}" if isinstance(entry, dict) else "")
