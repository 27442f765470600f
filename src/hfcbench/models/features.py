"""Per-layer features of a classifier: what every detector and adaptive attack works on.

For each hooked activation layer ``l`` with output ``(N, C_l, *spatial)`` the paper keeps the
channel-mean vector ``f_l(x)`` of shape ``(N, C_l)`` (Sec. V-A, "Hyperparameters"); the
penultimate layer ``z(x)`` (the input of the final linear layer, Eq. 1) is kept whole; the
logits ``l(x)`` are kept too. Full activation maps ``(N, C_l, *spatial)`` are kept only for the
layers a caller asks for (``FeatureExtractor(model, maps=[...])``): a detector on whole maps
(Metzen et al.) needs them, and at 28x28 they are about 40 times the size of the channel means.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ..errors import HfcbenchError, InvalidParameterError

PENULTIMATE = "penultimate"


@dataclass
class Features:
    """Features of N inputs.

    Attributes:
        logits: (N, K) classifier outputs.
        layers: ordered ``{name: (N, D_l)}``; hooked layers first (channel means, ``D_l = C_l``),
            ``"penultimate"`` last (the whole vector fed to the final linear layer).
        labels: (N,) int64 labels the caller attached (true or target class), or None.
        head_weight, head_bias: (K, D) and (K,) parameters of the final linear layer, so that
            detectors such as BU can map penultimate features to logits without the model.
        meta: plain values describing the inputs (e.g. ``noise_l2`` of noisy copies).
        maps: ordered ``{name: (N, C_l, *spatial)}`` full activations of the hooked layers that
            were asked for (empty by default).
    """

    logits: torch.Tensor
    layers: OrderedDict[str, torch.Tensor]
    labels: torch.Tensor | None = None
    head_weight: torch.Tensor | None = None
    head_bias: torch.Tensor | None = None
    meta: dict = field(default_factory=dict)
    maps: OrderedDict[str, torch.Tensor] = field(default_factory=OrderedDict)

    def __len__(self) -> int:
        return len(self.logits)

    @property
    def layer_names(self) -> list[str]:
        return list(self.layers)

    @property
    def penultimate(self) -> torch.Tensor:
        return self.layers[PENULTIMATE]

    @property
    def predictions(self) -> torch.Tensor:
        return self.logits.argmax(1)

    def array(self, name: str) -> np.ndarray:
        """Layer ``name`` (or ``"logits"``) as a float64 numpy array, (N, D)."""
        tensor = self.logits if name == "logits" else self.layers[name]
        return tensor.detach().cpu().double().numpy()

    def subset(self, index) -> Features:
        index = torch.as_tensor(np.asarray(index), dtype=torch.long)
        return Features(self.logits[index], OrderedDict((k, v[index]) for k, v in self.layers.items()),
                        None if self.labels is None else self.labels[index], self.head_weight, self.head_bias,
                        dict(self.meta), OrderedDict((k, v[index]) for k, v in self.maps.items()))

    @staticmethod
    def concat(parts: Sequence[Features]) -> Features:
        if not parts:
            raise HfcbenchError("cannot concatenate an empty list of Features")
        first = parts[0]
        labels = None if first.labels is None else torch.cat([p.labels for p in parts if p.labels is not None])
        return Features(torch.cat([p.logits for p in parts]),
                        OrderedDict((k, torch.cat([p.layers[k] for p in parts])) for k in first.layers),
                        labels, first.head_weight, first.head_bias, dict(first.meta),
                        OrderedDict((k, torch.cat([p.maps[k] for p in parts])) for k in first.maps))

    def to(self, dtype: torch.dtype) -> Features:
        """The same features with every float tensor (logits, layers, maps, head) in ``dtype``,
        detached, on the CPU (how :meth:`Detector.score` evaluates a detector's ``torch_score``)."""
        def cast(t):
            return None if t is None else t.detach().cpu().to(dtype)

        return Features(cast(self.logits), OrderedDict((k, cast(v)) for k, v in self.layers.items()), self.labels,
                        cast(self.head_weight), cast(self.head_bias), dict(self.meta),
                        OrderedDict((k, cast(v)) for k, v in self.maps.items()))

    def replaced(self, parts: dict[tuple[str, str], torch.Tensor]) -> Features:
        """The same features with some tensors replaced: ``{("layers" | "maps", name) or
        ("logits", ""): tensor}`` (a detector queried at nearby features)."""
        layers, maps, logits = OrderedDict(self.layers), OrderedDict(self.maps), self.logits
        for (kind, name), tensor in parts.items():
            if kind == "logits":
                logits = tensor
            else:
                (layers if kind == "layers" else maps)[name] = tensor
        return Features(logits, layers, self.labels, self.head_weight, self.head_bias, dict(self.meta), maps)

    def with_labels(self, labels: torch.Tensor | None) -> Features:
        return Features(self.logits, self.layers, labels, self.head_weight, self.head_bias, dict(self.meta),
                        self.maps)

    def check_finite(self, what: str = "features") -> Features:
        """Raise a clear error if any value is NaN or infinite (instead of a silent NaN AUC)."""
        for name, tensor in [("logits", self.logits), *self.layers.items(), *self.maps.items()]:
            bad = ~torch.isfinite(tensor)
            if bad.any():
                rows = bad.reshape(len(tensor), -1).any(1).nonzero().flatten()[:5].tolist()
                raise InvalidParameterError(
                    f"{what}: layer {name!r} holds NaN or infinite values (rows {rows}...); check the input "
                    "images and the model (a diverged model or corrupt images give such features)")
        return self

    def to_state(self) -> dict:
        """A dict of tensors and plain values, loadable with ``torch.load(weights_only=True)``
        (full maps are never stored: they are recomputed from images when a detector needs them)."""
        return {"logits": self.logits, "layers": dict(self.layers), "layer_order": list(self.layers),
                "labels": self.labels, "head_weight": self.head_weight, "head_bias": self.head_bias,
                "meta": self.meta}

    @staticmethod
    def from_state(state: dict) -> Features:
        layers = OrderedDict((k, state["layers"][k]) for k in state["layer_order"])
        return Features(state["logits"], layers, state["labels"], state["head_weight"], state["head_bias"],
                        dict(state["meta"]))


def channel_mean(activation: torch.Tensor) -> torch.Tensor:
    """(N, C, *spatial) -> (N, C) channel means; 2-D inputs (N, C) are returned as they are.

    Written as a sum divided by the spatial size rather than ``mean``: the backward of a sum
    is a broadcast view of the small (N, C) gradient, while ``mean``'s backward materialises an
    activation-sized tensor per hooked layer, which is most of an attack's hook overhead.
    """
    if activation.dim() <= 2:
        return activation
    spatial = tuple(range(2, activation.dim()))
    return activation.sum(spatial) / float(np.prod(activation.shape[2:]))


def _default_layers(model: nn.Module) -> OrderedDict[str, nn.Module]:
    feature_modules = getattr(model, "feature_modules", None)
    if callable(feature_modules):
        return OrderedDict(feature_modules())
    relus = OrderedDict((n, m) for n, m in model.named_modules()
                        if isinstance(m, (nn.ReLU, nn.ReLU6, nn.GELU, nn.SiLU, nn.LeakyReLU)))
    if not relus:
        raise HfcbenchError(f"{type(model).__name__} has no activation modules to hook and no feature_modules(); "
                            "give FeatureExtractor(model, layers=[...]) module names")
    return relus


def _classifier(model: nn.Module) -> nn.Linear:
    head = getattr(model, "classifier", None)
    if isinstance(head, nn.Linear):
        return head
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise HfcbenchError(f"{type(model).__name__} has no nn.Linear layer: the penultimate layer is the input "
                            "of the final linear layer")
    return linears[-1]


def _model_device(model: nn.Module) -> torch.device:
    for tensor in model.parameters():
        return tensor.device
    return torch.device("cpu")


@contextmanager
def eval_mode(model: nn.Module):
    """Put every module in eval mode, then restore each module's own ``training`` flag."""
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, flag in flags:
            module.training = flag


class FeatureExtractor:
    """Hook a classifier and return :class:`Features`.

    Args:
        model: a zoo model or any ``nn.Module`` classifier; it is never moved, and every hook
            is removed when a call returns; training flags are restored.
        layers: names of the hooked layers to keep (``None`` = all of ``layer_names``). The
            penultimate layer is always kept.
        maps: names of hooked layers whose full activations are kept in ``Features.maps``, or
            ``"all"`` for every hooked layer (default: none).

    ``extractor(x)`` keeps the autograd graph (attacks differentiate through it);
    ``extractor.extract(x)`` streams batches without gradients and returns CPU tensors.
    """

    def __init__(self, model: nn.Module, layers: Iterable[str] | None = None, *, maps: Iterable[str] | str = ()):
        self.model = model
        available = _default_layers(model)
        if layers is None:
            chosen = list(available)
        else:
            chosen = list(layers)
            unknown = [n for n in chosen if n not in available]
            if unknown:
                raise InvalidParameterError(f"unknown layer(s) {unknown}; available layers: {list(available)}")
        self._modules = OrderedDict((n, available[n]) for n in chosen)
        self._maps = list(self._modules) if maps == "all" else list(maps)
        unknown = [n for n in self._maps if n not in self._modules]
        if unknown:
            raise InvalidParameterError(f"maps asked for layer(s) {unknown} that are not hooked; hooked layers: "
                                        f"{list(self._modules)}")
        self._head = _classifier(model)

    @property
    def layer_names(self) -> list[str]:
        """Hooked layer names in forward order, then ``"penultimate"``."""
        return [*self._modules, PENULTIMATE]

    def __call__(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> Features:
        """Features of a batch ``x`` (N, C, *spatial), on the model's device, differentiable."""
        captured: dict[str, torch.Tensor] = {}
        full: dict[str, torch.Tensor] = {}

        def keep(name):
            def hook(_module, _inputs, output):
                captured[name] = channel_mean(output)
                if name in self._maps:
                    full[name] = output
            return hook

        def keep_input(_module, inputs):
            captured[PENULTIMATE] = inputs[0]

        handles = [m.register_forward_hook(keep(n)) for n, m in self._modules.items()]
        handles.append(self._head.register_forward_pre_hook(keep_input))
        try:
            with eval_mode(self.model):
                logits = self.model(x)
        finally:
            for handle in handles:
                handle.remove()
        missing = [n for n in self.layer_names if n not in captured]
        if missing:
            raise HfcbenchError(f"layers {missing} were not reached in the forward pass of {type(self.model).__name__}")
        layers = OrderedDict((n, captured[n]) for n in self.layer_names)
        return Features(logits, layers, labels, self._head.weight.detach(), self._head.bias.detach()
                        if self._head.bias is not None else None, maps=OrderedDict((n, full[n]) for n in self._maps))

    def extract(self, x: torch.Tensor, labels: torch.Tensor | None = None, *, batch_size: int = 256,
                progress: bool = False, desc: str = "features") -> Features:
        """Features of all of ``x`` in batches of ``batch_size``, without gradients, on the CPU; a
        progress bar when ``progress`` and there is more than one batch."""
        if batch_size < 1:
            raise InvalidParameterError(f"batch_size must be >= 1, got {batch_size}")
        device = _model_device(self.model)
        parts = []
        with torch.no_grad():  # an empty x runs once, as a batch of none: empty features of the right widths
            batches = range(0, max(len(x), 1), batch_size)
            for start in tqdm(batches, desc=desc, disable=not progress or len(batches) == 1, leave=False):
                feats = self(x[start:start + batch_size].to(device))
                parts.append(Features(feats.logits.cpu(), OrderedDict((k, v.cpu()) for k, v in feats.layers.items()),
                                      maps=OrderedDict((k, v.cpu()) for k, v in feats.maps.items())))
        out = Features.concat(parts)
        out.labels = labels
        out.head_weight = self._head.weight.detach().cpu().clone()
        out.head_bias = None if self._head.bias is None else self._head.bias.detach().cpu().clone()
        return out
