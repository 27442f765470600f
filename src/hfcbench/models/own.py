"""A user's own classifier: any ``nn.Module``, its trained weights, the layers to hook, its head.

* **The model** comes from a factory: a registered name (the zoo, or a package's entry point in
  the group ``hfcbench.models``) or ``module:factory``. A factory is called with those of
  ``in_channels, num_classes, dims, image_size`` that it accepts and returns the ``nn.Module``.
* **Weights**: ``--checkpoint PATH``, a state dict read with ``torch.load(weights_only=True)`` (or
  a dict holding one under ``"state_dict"``). Its keys and shapes must match the model's: a
  mismatch is refused with the first few missing, unexpected and mis-shaped keys named. Nothing is
  trained then, and the file's SHA-256 enters every cache key.
* **Inputs**: hfcbench's images are in [0, 1] and attack budgets are in those units. A model that
  expects [0, 1] is used as it is; one trained on normalised inputs gets ``--mean`` and ``--std``
  (one value per channel), which prepend ``(x - mean) / std`` to it. A factory that accepts
  ``mean`` and ``std`` arguments is also given the training images' channel statistics (the
  zoo's models normalise inside with them, so ``--mean/--std`` are refused for zoo names).
* **Identity**: the cache keys of everything computed from the model hold its name, the SHA-256 of
  the source files of its factory and class, the checkpoint's SHA-256 (or the training settings),
  the dataset, and the layers, head and normalisation chosen.
* **Layers**: ``--layers`` names modules, with globs (``layer1.*,layer4.1``) whose ``*`` stays
  within one dotted level (``stage*`` is ``stage1, stage2``, not their children); a named module
  that does not run exactly once per forward pass is refused. By default, the first of these
  rules that leaves a layer: the model's ``feature_modules()`` if it has one (its keys must be
  module names); else its residual blocks, found by type (modules whose class name ends in
  ``Block`` or ``Bottleneck``, outermost only); else its top-level ``nn.Sequential`` stages; else
  its activation modules. A rule's layers are dropped where they do not run exactly once or where
  their channel means repeat an earlier layer or the penultimate vector (a last block followed by
  global average pooling), so each feature is hooked once; a rule left with none falls through to
  the next. ``hfcbench layers`` lists the modules with their output shapes and which are hooked.
  The names are module names throughout: ``layers`` prints, ``--layers`` takes and records store
  the same ones.
* **Head**: the final linear layer, whose input is the penultimate vector (``--head`` names it;
  by default the model's ``classifier``, else its last ``nn.Linear``).
"""

from __future__ import annotations

import fnmatch
import hashlib
import inspect
import sys
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..errors import PLUGIN_FAILURES, HfcbenchError, InvalidParameterError, failure_text
from ..registry import import_object
from .features import PENULTIMATE, FeatureExtractor
from .layers import Normalize

ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.GELU, nn.SiLU, nn.LeakyReLU)


@dataclass(frozen=True)
class ModelChoice:
    """The classifier of a run: ``name`` (a zoo or plugin name, or ``module:factory``), its
    ``checkpoint`` file, the ``layers`` patterns and ``head`` name, and the ``mean``/``std`` of
    the normalisation to prepend (one value per channel). None: the defaults above."""

    name: str
    checkpoint: str | None = None
    layers: str | None = None
    head: str | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None

    @property
    def plain_zoo(self) -> bool:
        """A zoo model used as the zoo trains it (nothing of the user's)."""
        from . import ZOO

        return self.name in ZOO and not any((self.checkpoint, self.layers, self.head, self.mean))


def factory(spec: str):
    """The model factory named ``spec``: a registry name or ``module:factory``."""
    from . import MODELS

    if ":" in spec and spec not in MODELS:
        made = import_object(spec)
        if not callable(made):
            raise HfcbenchError(f"--model {spec}: {made!r} is not callable; give a function or class that returns "
                                "an nn.Module")
        return made
    return MODELS.get(spec)


def call_factory(make, spec: str, **available) -> nn.Module:
    """``make`` called with the keyword arguments of ``available`` it accepts; must return an nn.Module."""
    try:
        parameters = dict(inspect.signature(make).parameters)
    except (TypeError, ValueError):
        parameters = {}
    takes_all = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    try:
        model = make(**{k: v for k, v in available.items() if takes_all or k in parameters})
    except HfcbenchError:  # a factory's own one-line error (a zoo builder refusing 2-D data) stays as it is
        raise
    except PLUGIN_FAILURES as exc:
        raise HfcbenchError(f"--model {spec}: its factory {getattr(make, '__qualname__', make)!r} raised "
                            f"{failure_text(exc, first_line=True)}") from None
    if not isinstance(model, nn.Module):
        raise HfcbenchError(f"--model {spec} returned a {type(model).__name__}, not a torch nn.Module")
    return model


def code_digest(*objects) -> str:
    """SHA-256 of the source files defining ``objects`` (a factory, a model), outside torch and
    hfcbench (whose code enters the keys by :func:`~hfcbench.cache.source_fingerprint`)."""
    digest = hashlib.sha256()
    files = set()
    for obj in objects:
        module = sys.modules.get(getattr(obj, "__module__", "") or "")
        top = (getattr(module, "__name__", "") or "").split(".")[0]
        if module is None or top in ("torch", "hfcbench"):
            continue
        try:
            files.add(inspect.getsourcefile(module))
        except TypeError:  # a module without a source file (built in, or made at run time)
            files.add(module.__name__)
    for name in sorted(f for f in files if f):
        digest.update(name.encode() if not Path(name).is_file() else Path(name).read_bytes())
    return digest.hexdigest()


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes (the identity of a checkpoint in every cache key)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_checkpoint(model: nn.Module, path: str | Path) -> None:
    """Load the state dict at ``path`` into ``model``, refusing a mismatch with the first keys named."""
    path = Path(path).expanduser()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise HfcbenchError(f"--checkpoint {path} does not exist") from None
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise HfcbenchError(f"--checkpoint {path} is not a state dict torch can read safely "
                            f"({type(exc).__name__}: {first})") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise HfcbenchError(f"--checkpoint {path} holds a {type(state).__name__}, not a state dict (name -> tensor)")
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
              for k in own if k in state and state[k].shape != own[k].shape]
    problems = [f"{label} {items[:3]}" + (f" (+{len(items) - 3} more)" if len(items) > 3 else "")
                for label, items in (("missing keys", missing), ("unexpected keys", unexpected),
                                     ("shape mismatches", shapes)) if items]
    if problems:
        renamed = any(k.startswith(("stages.", "features.")) for k in unexpected) and \
            any(k.startswith(("stage1.", "conv1_1.")) for k in missing)
        hint = ("; it holds a zoo model saved before the zoo's modules took the names of their hooked layers: "
                "rename its keys stages.I.J. -> stage<I+1>.block<J>. (ResNets), or retrain it") if renamed else ""
        raise HfcbenchError(f"--checkpoint {path} does not fit the model: {'; '.join(problems)}{hint}")
    model.load_state_dict(state)


def _names(patterns: str | None) -> list[str]:
    return [p.strip() for p in (patterns or "").split(",") if p.strip()]


def _matches(name: str, pattern: str) -> bool:
    """``fnmatch`` level by level: ``layer1.*`` is the children of ``layer1``, not their children."""
    parts, wanted = name.split("."), pattern.split(".")
    return len(parts) == len(wanted) and all(fnmatch.fnmatchcase(p, w) for p, w in zip(parts, wanted, strict=True))


def layer_rules(model: nn.Module) -> list[tuple[str, list[str]]]:
    """The default choice of layers (module docstring) as rules tried in order, each with the
    module names it gives (maybe none): the model's own ``feature_modules()`` alone if it has one,
    else residual blocks, top-level ``nn.Sequential`` stages, activation modules."""
    own = getattr(model, "feature_modules", None)
    if callable(own):
        return [("its feature_modules()", list(own()))]
    named = [(n, m) for n, m in model.named_modules() if n]
    blocks = [n for n, m in named if type(m).__name__.endswith(("Block", "Bottleneck"))]
    blocks = [n for n in blocks if not any(n.startswith(other + ".") for other in blocks)]  # outermost only
    stages = [n for n, m in model.named_children() if isinstance(m, nn.Sequential)
              and not any(isinstance(x, nn.Linear) for x in m.modules())]
    return [("residual blocks (classes named *Block or *Bottleneck)", blocks),
            ("top-level nn.Sequential stages", stages),
            ("activation modules", [n for n, m in named if isinstance(m, ACTIVATIONS)])]


def default_layers(model: SelectedLayers, probe: torch.Tensor) -> list[str]:
    """The layers hooked when ``--layers`` is not given: those of the first rule of
    :func:`layer_rules` that leaves any once the probe (N, C, *spatial) has dropped layers that
    are not run exactly once per forward pass or that repeat an earlier layer or the penultimate
    vector. A rule that leaves none (a plain CNN's one ``nn.Sequential`` body ending in global
    pooling repeats the penultimate vector) falls through to the next."""
    calls = {name: count for name, (_, count) in trace_modules(model.model, probe).items()}
    modules = {name for name, _ in model.model.named_modules()}
    reasons = []
    for rule, layers in layer_rules(model.model):
        strangers = [n for n in layers if n not in modules]
        if strangers:
            raise HfcbenchError(f"{type(model.model).__name__}.feature_modules() names {strangers[:3]}, which are not "
                                "module names (named_modules() gives them): its keys must be module names, so that "
                                "hfcbench layers, --layers and the records name the same layers")
        once = [n for n in layers if calls.get(n, 0) == 1]
        kept = distinct_layers(model, probe, once) if once else []
        if kept:
            return kept
        shown = f"{', '.join(layers[:3])}{' ...' if len(layers) > 3 else ''}"
        reasons.append(f"{rule}: " + ("none" if not layers else
                                      f"{shown} (every one repeats the penultimate vector or an earlier layer)" if once
                                      else f"{shown} (none runs exactly once per forward pass)"))
    raise HfcbenchError(f"{type(model.model).__name__} has no layer to hook by default ({'; '.join(reasons)}); "
                        "name some with --layers (hfcbench layers lists the modules)")


def choose_layers(model: nn.Module, patterns: str) -> list[str]:
    """Module names matching ``patterns`` (``--layers``: names or globs), in the model's order."""
    if not _names(patterns):
        raise InvalidParameterError("--layers names no module; give names or globs, e.g. layer1.*,layer4.1")
    candidates = [n for n, _ in model.named_modules() if n]
    layers: list[str] = []
    for pattern in _names(patterns):
        matched = [n for n in candidates if _matches(n, pattern)]
        if not matched:
            raise InvalidParameterError(f"--layers {pattern!r} matches no module of {type(model).__name__}; "
                                        f"modules include {candidates[:12]} (hfcbench layers lists them all)")
        layers += [n for n in matched if n not in layers]
    order = {n: i for i, n in enumerate(candidates)}
    return sorted(layers, key=order.__getitem__)


def choose_head(model: nn.Module, name: str | None) -> str:
    """The name of the final linear layer (``--head``, or the model's ``classifier``, else its last Linear)."""
    modules = dict(model.named_modules())
    if name:
        if not isinstance(modules.get(name), nn.Linear):
            linears = [n for n, m in modules.items() if isinstance(m, nn.Linear)]
            raise InvalidParameterError(f"--head {name!r} is not an nn.Linear of {type(model).__name__}; its linear "
                                        f"layers are {linears}")
        return name
    head = getattr(model, "classifier", None)
    for n, m in modules.items():
        if m is head and isinstance(m, nn.Linear):
            return n
    linears = [n for n, m in modules.items() if isinstance(m, nn.Linear)]
    if not linears:
        raise HfcbenchError(f"{type(model).__name__} has no nn.Linear layer: the penultimate vector is the input of "
                            "the final linear layer; name it with --head")
    return linears[-1]


class SelectedLayers(nn.Module):
    """``model`` with an optional ``(x - mean) / std`` in front, and the layers and head chosen for
    it: every :class:`FeatureExtractor` of this module (the harness's, the attacks') hooks the same
    ones. Inputs (N, C, *spatial) in [0, 1]; outputs the model's logits (N, K)."""

    def __init__(self, model: nn.Module, layers: list[str], head: str, mean=None, std=None):
        super().__init__()
        self.model = model
        self.normalize = None if mean is None else Normalize(list(mean), list(std), dims=0)
        self.layers, self.head = list(layers), head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.normalize is not None:
            shape = (1, -1) + (1,) * (x.dim() - 2)
            x = (x - self.normalize.mean.view(shape)) / self.normalize.std.view(shape)
        return self.model(x)

    def feature_modules(self) -> OrderedDict[str, nn.Module]:
        modules = dict(self.model.named_modules())
        return OrderedDict((n, modules[n]) for n in self.layers)

    @property
    def classifier(self) -> nn.Linear:
        head = dict(self.model.named_modules())[self.head]
        assert isinstance(head, nn.Linear)
        return head


def distinct_layers(model: SelectedLayers, probe: torch.Tensor, layers: list[str]) -> list[str]:
    """``layers`` without those whose channel means on ``probe`` (N, C, *spatial) repeat an earlier
    layer's or equal the penultimate vector: each feature is hooked once."""
    model.layers = list(layers)
    feats = FeatureExtractor(model).extract(probe, progress=False)
    kept: list[str] = []
    for name in layers:
        values = feats.layers[name]
        same = [other for other in (*kept, PENULTIMATE) if feats.layers[other].shape == values.shape
                and torch.allclose(feats.layers[other], values, rtol=1e-5, atol=1e-6)]
        if not same:
            kept.append(name)
    return kept


def trace_modules(model: nn.Module, probe: torch.Tensor) -> dict[str, tuple[str, int]]:
    """``{name: (output shape without the batch axis, calls)}`` of every named module of ``model``
    in one forward pass on ``probe`` (N, C, *spatial); modules not reached are absent."""
    seen: dict[str, tuple[str, int]] = {}

    def hook(name):
        def record(_module, _inputs, out):
            shape = str(tuple(out.shape[1:])) if isinstance(out, torch.Tensor) else type(out).__name__
            seen[name] = (shape, seen.get(name, ("", 0))[1] + 1)
        return record

    handles = [m.register_forward_hook(hook(n)) for n, m in model.named_modules() if n]
    try:
        with torch.no_grad():
            model.eval()(probe)
    finally:
        for handle in handles:
            handle.remove()
    return seen


def check_hookable(model: SelectedLayers, probe: torch.Tensor) -> None:
    """Refuse chosen layers that the forward pass never reaches or runs more than once (a shared
    activation module: its hook would see several tensors, and keep only the last)."""
    seen = trace_modules(model.model, probe)
    for name in model.layers:
        calls = seen.get(name, ("", 0))[1]
        if calls != 1:
            how = "is never run" if calls == 0 else f"runs {calls} times"
            raise HfcbenchError(f"layer {name!r} {how} in one forward pass of {type(model.model).__name__}, so its "
                                "output is not one feature; choose other layers with --layers (hfcbench layers "
                                "lists them with their calls)")


def describe_layers(model: nn.Module, probe: torch.Tensor,
                    hooked: list[str]) -> list[tuple[str, str, str, int, bool]]:
    """``(name, type, output shape, calls, hooked)`` for every named module, from one forward pass."""
    seen = trace_modules(model, probe)
    return [(n, type(m).__name__, *seen.get(n, ("not reached", 0)), n in hooked)
            for n, m in model.named_modules() if n]
