"""One generic registry for every kind of hfcbench component.

Datasets, models, detectors and attacks are each held by a :class:`Registry`. Entries come
from three places, all under one namespace per kind:

* built-ins declared lazily as ``"module:attribute"`` strings, so listing imports nothing heavy;
* the ``@registry.register("name")`` decorator;
* third-party packages, through the entry-point group ``hfcbench.<kind>`` (for example
  ``hfcbench.detectors``), and ``--plugin module:Class`` on the command line.

Selection accepts ``all``, comma-separated lists and shell globs (``maha*``). An unknown name is
answered with the closest matches and the full list; two components under one name is an error.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import os
import sys
from collections.abc import Callable, Iterable
from importlib import metadata
from typing import Any, Generic, TypeVar

from .errors import PLUGIN_FAILURES, DuplicateComponentError, HfcbenchError, UnknownComponentError, failure_text

T = TypeVar("T")


def import_object(spec: str) -> Any:
    """Import ``"package.module:Attribute"`` and return the attribute. The current folder is on
    the import path, last (as ``python -m`` and uvicorn do): a module beside the user is found,
    and never shadows an installed one.

    Raises:
        HfcbenchError: the spec is malformed, the module cannot be imported or lacks the attribute.
    """
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise HfcbenchError(f"plugin {spec!r} must have the form 'module:Attribute', e.g. 'mypkg.det:MyDetector'")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.append(os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise HfcbenchError(f"cannot import module {module_name!r} for {spec!r}: {exc}") from exc
    except PLUGIN_FAILURES as exc:  # a syntax error, or one that raises (or exits) while it is imported
        where = f" ({exc.filename}:{exc.lineno})" if isinstance(exc, SyntaxError) else ""
        message = f"importing module {module_name!r} for {spec!r} failed: {failure_text(exc)}{where}"
        raise HfcbenchError(message) from None
    try:
        obj = module
        for part in attr.split("."):
            obj = getattr(obj, part)
    except AttributeError as exc:
        raise HfcbenchError(f"module {module_name!r} has no attribute {attr!r} (from {spec!r})") from exc
    return obj


class Registry(Generic[T]):
    """Names mapped to components of one kind.

    Args:
        kind: plural noun used in messages and in the entry-point group (``"detectors"``).
        lazy: built-in entries as ``{name: "module:attribute"}``; imported on first use.
    """

    def __init__(self, kind: str, lazy: dict[str, str] | None = None):
        self.kind = kind
        self.group = f"hfcbench.{kind}"
        self._lazy: dict[str, str] = {}
        self._loaded: dict[str, T] = {}
        self._origin: dict[str, str] = {}
        self._targets: dict[str, str] = {}
        self._entry_points_read = False
        for name, spec in (lazy or {}).items():
            self._add(name, spec=spec, origin=f"built-in {spec}")

    # -- registration -------------------------------------------------------------------------
    def _add(self, name: str, *, spec: str | None = None, obj: T | None = None, origin: str,
             target: str | None = None) -> None:
        """Add ``name``; ``target`` is the ``module:attribute`` the entry points to, when known."""
        name = name.strip().lower()
        if not name or any(c in name for c in ",*?[]|") or any(not c.isprintable() or c.isspace() for c in name):
            raise HfcbenchError(f"{self.kind[:-1]} name {name!r} must be non-empty and free of ',*?[]|', spaces and "
                                "control characters")
        target = target or spec
        if name in self._origin:
            same_target = target is not None and self._targets.get(name) == target
            same_object = obj is not None and self._loaded.get(name) is obj
            if same_target or same_object:
                return
            raise DuplicateComponentError(
                f"two {self.kind} are registered under the name {name!r}: {self._origin[name]} and {origin}; "
                "rename one of them"
            )
        self._origin[name] = origin
        if target is not None:
            self._targets[name] = target
        if spec is not None:
            self._lazy[name] = spec
        else:
            self._loaded[name] = obj

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: ``@DETECTORS.register("mine")`` above a class or factory."""

        def decorator(obj: T) -> T:
            self._add(name, obj=obj, origin=f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', obj)}")
            return obj

        return decorator

    def add(self, name: str, obj: T) -> T:
        """Register ``obj`` under ``name`` (what the decorator does, as a call)."""
        return self.register(name)(obj)

    def add_plugin(self, spec: str, name: str | None = None) -> str:
        """Register ``"module:Class"`` (from ``--plugin``); the name defaults to the class's
        ``name`` attribute or its lower-cased class name. Returns the registered name."""
        obj = import_object(spec)
        name = name or getattr(obj, "name", None) or obj.__name__.lower()
        self._add(name, obj=obj, origin=f"plugin {spec}", target=spec)
        return name

    def _read_entry_points(self) -> None:
        if self._entry_points_read:
            return
        self._entry_points_read = True
        for ep in metadata.entry_points(group=self.group):
            self._add(ep.name, spec=ep.value, origin=f"entry point {ep.value} ({self.group})")

    # -- lookup -------------------------------------------------------------------------------
    def names(self) -> list[str]:
        """Every registered name, sorted; imports nothing."""
        self._read_entry_points()
        return sorted(self._origin)

    def __contains__(self, name: str) -> bool:
        return name.strip().lower() in self.names()

    def get(self, name: str) -> T:
        """The component registered as ``name`` (case-insensitive)."""
        key = name.strip().lower()
        if key not in self.names():
            raise UnknownComponentError(self._unknown_message(name))
        if key not in self._loaded:
            self._loaded[key] = import_object(self._lazy[key])
        return self._loaded[key]

    def _unknown_message(self, name: str) -> str:
        available = self.names()
        close = difflib.get_close_matches(name.strip().lower(), available, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        return f"unknown {self.kind[:-1]} {name!r}.{hint} Available {self.kind}: {', '.join(available)}"

    def select(self, spec: str | Iterable[str]) -> list[str]:
        """Expand a selection into registered names, in the order given, without repeats.

        ``spec`` is ``"all"``, a comma-separated string or a list; each item is a name or a glob.
        """
        items = spec.split(",") if isinstance(spec, str) else list(spec)
        chosen: list[str] = []
        for raw in items:
            item = raw.strip().lower()
            if not item:
                continue
            if item == "all":
                matches = self.names()
            elif any(c in item for c in "*?["):
                matches = fnmatch.filter(self.names(), item)
                if not matches:
                    raise UnknownComponentError(
                        f"the pattern {raw.strip()!r} matches no {self.kind}. Available {self.kind}: "
                        f"{', '.join(self.names())}"
                    )
            else:
                self.get(item)
                matches = [item]
            chosen.extend(m for m in matches if m not in chosen)
        if not chosen:
            raise HfcbenchError(f"the selection {spec!r} names no {self.kind}; use 'all' or a comma list")
        return chosen

    def describe(self, name: str) -> str:
        """The component's ``description`` attribute, else the first line of its docstring (imports it)."""
        obj = self.get(name)
        doc = getattr(obj, "description", None) or getattr(obj, "__doc__", None) or ""
        return doc.strip().splitlines()[0] if doc.strip() else ""
