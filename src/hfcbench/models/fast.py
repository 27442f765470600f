"""An attack-ready copy of a classifier: the same function, cheaper to differentiate on a CPU.

An iterative attack evaluates the classifier ``T = 2 eps / alpha`` times per input (paper
Sec. IV), always in eval mode and only for the input gradient. A profile of one BIM step on
ResNet-20 (batch 64, 28x28, CPU) puts about 72% of the time in convolutions, 13% in
BatchNorm and the rest in copies between them. The copy made here computes the same function
with less of that work:

* every eval-mode BatchNorm whose input is the output of a convolution is folded into it,
  ``W' = W * gamma / sqrt(var + e)`` and ``b' = (b - mean) * gamma / sqrt(var + e) + beta``
  (``torch.nn.utils.fusion.fuse_conv_bn_eval``), and replaced by an identity, so the step runs
  one kernel instead of two and stores one activation instead of two;
* its parameters do not require gradients (an attack needs the input gradient only);
* 2-D models run in ``channels_last`` memory format, oneDNN's native layout on CPUs.

Folding is exact in real arithmetic; in float32 it rounds differently (input gradients differ by
about 1e-9 on ResNet-20, ``channels_last`` by about 1e-6, so a signed step can flip on about one
pixel in 50,000). The copy is therefore checked on a probe batch against the original: logits,
every hooked layer and the input gradient must agree within :data:`RTOL`; otherwise (a model whose
convolution output is also used elsewhere, a custom layer that hooks a BatchNorm...) the
original is used. The original model is never modified.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from ..errors import HfcbenchError
from .features import FeatureExtractor, _default_layers, eval_mode

RTOL = 1e-3  # agreement asked of the copy, relative to each compared tensor's largest magnitude

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def attack_copy(model: nn.Module, probe: torch.Tensor) -> nn.Module:
    """A faster copy of ``model`` for attack steps, or ``model`` itself when no copy reproduces it
    on ``probe`` (N, C, *spatial), a batch of inputs on the model's device (an empty probe checks
    nothing, so it gives ``model``). The copy in ``channels_last`` is tried first for 2-D inputs,
    then the folded copy alone (a model that ``view``-s its activations cannot run channels_last)."""
    if len(probe) == 0:
        return model
    folded = _folded(model, probe)
    candidates = [folded]
    if probe.dim() == 4:
        channels_last = copy.deepcopy(folded).to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # accepted at run time, absent from the stubs
        channels_last.register_forward_pre_hook(_to_channels_last)
        candidates.insert(0, channels_last)
    return next((c for c in candidates if _agrees(model, c, probe)), model)


def _folded(model: nn.Module, probe: torch.Tensor) -> nn.Module:
    """A copy of ``model`` in eval mode, without parameter gradients, with every BatchNorm fed
    only by a convolution folded into it (unless either is a hooked feature layer)."""
    fast = copy.deepcopy(model).eval()
    for parameter in fast.parameters():
        parameter.requires_grad_(False)
    with torch.no_grad(), eval_mode(model):
        pairs = _conv_norm_pairs(model, probe[:1])
    modules = dict(fast.named_modules())
    hooked = {id(m) for m in _hooked_modules(fast)}
    for conv_name, norm_name in pairs:
        conv, norm = modules[conv_name], modules[norm_name]
        if id(conv) in hooked or id(norm) in hooked or not norm.track_running_stats:
            continue
        _replace(fast, conv_name, fuse_conv_bn_eval(conv, norm))
        _replace(fast, norm_name, nn.Identity())
    return fast


def _to_channels_last(_module, inputs):
    return (inputs[0].contiguous(memory_format=torch.channels_last), *inputs[1:])


def _conv_norm_pairs(model: nn.Module, x: torch.Tensor) -> list[tuple[str, str]]:
    """``(conv name, norm name)`` for every BatchNorm fed directly by a convolution's output,
    found by running ``x`` (1, C, *spatial) with hooks (no assumption about how forward is written)."""
    produced: dict[int, str] = {}
    pairs: list[tuple[str, str]] = []

    def conv_hook(name):
        def hook(_module, _inputs, output):
            produced[id(output)] = name
        return hook

    def norm_hook(name):
        def hook(_module, inputs):
            if id(inputs[0]) in produced:
                pairs.append((produced[id(inputs[0])], name))
        return hook

    handles = [m.register_forward_hook(conv_hook(n)) for n, m in model.named_modules() if isinstance(m, _CONVS)]
    handles += [m.register_forward_pre_hook(norm_hook(n)) for n, m in model.named_modules()
                if isinstance(m, _NORMS)]
    try:
        outputs = model(x)  # kept alive until the pairs are read, so no tensor id is reused
    finally:
        for handle in handles:
            handle.remove()
    del outputs
    convs_used = [conv for conv, _ in pairs]
    return [(conv, norm) for conv, norm in pairs if convs_used.count(conv) == 1]


def _hooked_modules(model: nn.Module) -> list[nn.Module]:
    """The modules a :class:`FeatureExtractor` hooks on ``model`` (none when it cannot hook it)."""
    try:
        return list(_default_layers(model).values())
    except HfcbenchError:
        return []


def _replace(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, module)


def _agrees(model: nn.Module, fast: nn.Module, probe: torch.Tensor) -> bool:
    """Whether ``fast`` gives ``model``'s logits, hooked layers and input gradient on ``probe``."""
    def outputs(net):
        x = probe.detach().clone().requires_grad_(True)
        try:
            feats = FeatureExtractor(net)(x)
            tensors = [feats.logits, *feats.layers.values()]
        except HfcbenchError:
            with eval_mode(net):
                tensors = [net(x)]
        (grad,) = torch.autograd.grad(tensors[0].log_softmax(1)[:, 0].sum(), x)
        return [t.detach() for t in tensors] + [grad]

    try:
        with torch.enable_grad(), eval_mode(model):
            reference = outputs(model)
            candidate = outputs(fast)
    except RuntimeError:
        return False
    return len(reference) == len(candidate) and all(_close(a, b) for a, b in zip(reference, candidate, strict=True))


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.shape != b.shape:
        return False
    return a.numel() == 0 or bool((a - b).abs().max() <= RTOL * a.abs().max().clamp_min(1e-12))
