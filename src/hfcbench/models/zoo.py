"""Trained classifiers on demand: load the cached checkpoint, or train and cache it; or the user's
own model with its checkpoint (:func:`load_classifier`, rules in :mod:`hfcbench.models.own`).

The checkpoint key hashes the dataset fingerprint, the architecture, every training
hyper-parameter, the seed, the hfcbench version and the source of the code that shapes the
trained weights (:data:`CHECKPOINT_CODE`: architectures, training, datasets, the wrapper of a
user's model). Feature extraction (``models/features.py``) is not in it: it enters the keys of
what is computed from a checkpoint. A checkpoint is a dict of tensors and plain values, loaded
with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..cache import Cache, content_key, source_fingerprint
from ..datasets import ImageDataset
from ..errors import PLUGIN_FAILURES, HfcbenchError, InvalidParameterError, failure_text
from . import ZOO, build_model
from .own import (
    ModelChoice,
    SelectedLayers,
    call_factory,
    check_hookable,
    choose_head,
    choose_layers,
    code_digest,
    default_layers,
    factory,
    file_digest,
    load_checkpoint,
)
from .training import TrainConfig, accuracy, channel_stats, train_classifier

PROBE_IMAGES = 8  # training images a user's model is first run on (shapes, layers to drop)


@dataclass
class TrainedModel:
    """A classifier in eval mode with what is known about its training."""

    model: torch.nn.Module
    arch: str
    key: str
    test_accuracy: float
    train_seconds: float
    from_cache: bool
    checkpoint_sha256: str | None = None  # the user's checkpoint file, when one was given


# the modules whose source changes a trained checkpoint (every module of ``models`` but features.py)
CHECKPOINT_CODE = ("models.__init__", "models.layers", "models.own", "models.resnet", "models.vgg", "models.training",
                   "models.zoo", "datasets")


def checkpoint_key(dataset: ImageDataset, arch: str, config: TrainConfig) -> str:
    return content_key(kind="checkpoint", dataset=dataset.fingerprint, arch=arch, config=config.as_dict(),
                       code=source_fingerprint(*CHECKPOINT_CODE))


def load_or_train(dataset: ImageDataset, arch: str, config: TrainConfig, *, cache: Cache,
                  device: torch.device, quiet: bool = False) -> TrainedModel:
    """The trained ``arch`` for ``dataset``: from ``cache`` when present, else trained and stored
    (by one process at a time: a second run on the same cache waits and reads the checkpoint). A
    cached checkpoint whose weights do not fit the architecture is moved aside and retrained."""
    mean, std = channel_stats(dataset.train.images)
    model = build_model(arch, dataset.image_shape, dataset.num_classes, mean, std)
    return _trained_or_cached(dataset, arch, config, checkpoint_key(dataset, arch, config), model, None,
                              cache=cache, device=device, quiet=quiet)


def _trained_or_cached(dataset: ImageDataset, name: str, config: TrainConfig, key: str, model: torch.nn.Module,
                       build: Callable[[], torch.nn.Module] | None, *, cache: Cache, device: torch.device,
                       quiet: bool) -> TrainedModel:
    """``model`` with the weights cached under ``key``, or trained (``build`` makes the untrained
    model, ``None`` for the zoo's) and cached by one process at a time; a cached checkpoint whose
    weights do not fit ``model`` is moved aside and retrained."""
    trained_now: dict = {}

    def train() -> dict:
        fitted, summary = train_classifier(dataset, name, config, device=device, quiet=quiet, build=build)
        trained_now["model"] = fitted
        return {"state_dict": {k: v.detach().cpu() for k, v in fitted.state_dict().items()}, "arch": name,
                "dataset": dataset.name, "config": config.as_dict(), "test_accuracy": accuracy(fitted, dataset.test),
                "train_seconds": summary["train_seconds"]}

    state = cache.get_or_compute("checkpoints", key, train, check=lambda s: model.load_state_dict(s["state_dict"]))
    if "model" in trained_now:
        model = trained_now["model"]
    else:
        model.load_state_dict(state["state_dict"])
    model.to(device).eval()
    return TrainedModel(model, name, key, state["test_accuracy"], state["train_seconds"], "model" not in trained_now)


def load_classifier(dataset: ImageDataset, choice: ModelChoice, config: TrainConfig, *, cache: Cache,
                    device: torch.device, quiet: bool = False) -> TrainedModel:
    """The classifier ``choice`` names for ``dataset``: a zoo model from :func:`load_or_train`, or a
    user's model wrapped in :class:`SelectedLayers` (its layers, head and normalisation), with the
    weights of ``choice.checkpoint`` (nothing trained) or trained here and cached like the zoo's."""
    if choice.plain_zoo:
        return load_or_train(dataset, choice.name, config, cache=cache, device=device, quiet=quiet)
    if choice.mean is not None and choice.name in ZOO:
        raise InvalidParameterError(f"--mean/--std: the zoo model {choice.name} normalises inside (with the "
                                    "training images' statistics); give them for your own models only")
    if choice.name in ZOO and choice.checkpoint is None:  # the zoo's weights, other layers or head
        trained = load_or_train(dataset, choice.name, config, cache=cache, device=device, quiet=quiet)
        model = selected_layers(trained.model.cpu(), choice, dataset)
        key = content_key(kind="model", checkpoint=trained.key, layers=model.layers, head=model.head)
        return TrainedModel(model.to(device).eval(), choice.name, key, trained.test_accuracy, trained.train_seconds,
                            trained.from_cache)
    build = _builder(choice, dataset)
    model = user_model(dataset, choice, build)
    identity = dict(model=choice.name, code=code_digest(factory(choice.name), model.model), dataset=dataset.fingerprint,
                    hfcbench=source_fingerprint(*CHECKPOINT_CODE), layers=model.layers, head=model.head,
                    mean=choice.mean, std=choice.std)
    if choice.checkpoint is not None:
        digest = file_digest(choice.checkpoint)
        model.to(device).eval()
        return TrainedModel(model, choice.name, content_key(kind="model", checkpoint_sha256=digest, **identity),
                            accuracy(model, dataset.test), 0.0, True, digest)

    def wrapped() -> SelectedLayers:
        return SelectedLayers(build(), model.layers, model.head, choice.mean, choice.std)

    key = content_key(kind="checkpoint", config=config.as_dict(), **identity)
    return _trained_or_cached(dataset, choice.name, config, key, model, wrapped, cache=cache, device=device,
                              quiet=quiet)


def _builder(choice: ModelChoice, dataset: ImageDataset):
    """A function making ``choice``'s untrained model for ``dataset`` by its factory."""
    make = factory(choice.name)
    mean, std = channel_stats(dataset.train.images)
    return lambda: call_factory(make, choice.name, in_channels=dataset.image_shape[0], num_classes=dataset.num_classes,
                                dims=dataset.spatial_dims, image_size=max(dataset.image_shape[1:]), mean=mean, std=std)


def user_model(dataset: ImageDataset, choice: ModelChoice, build=None) -> SelectedLayers:
    """``choice``'s model (built by ``build``, default its factory), with its checkpoint's weights
    when one is given, wrapped with its layers, head and normalisation; on the CPU, in eval mode."""
    return selected_layers(raw_model(dataset, choice, build), choice, dataset)


def raw_model(dataset: ImageDataset, choice: ModelChoice, build=None) -> torch.nn.Module:
    """``choice``'s model as its factory (or ``build``) makes it, with its checkpoint's weights."""
    raw = (build or _builder(choice, dataset))()
    if choice.checkpoint is not None:
        load_checkpoint(raw, choice.checkpoint)
    return raw


def selected_layers(model: torch.nn.Module, choice: ModelChoice, dataset: ImageDataset) -> SelectedLayers:
    """``model`` wrapped with the layers and head ``choice`` names (or the defaults, without layers
    that repeat another), after one forward pass on a few training images that checks its output."""
    if choice.mean is not None and len(choice.mean) != dataset.image_shape[0]:
        raise InvalidParameterError(f"--mean/--std give {len(choice.mean)} values but the images of {dataset.name} "
                                    f"have {dataset.image_shape[0]} channel(s); give one value per channel")
    layers = choose_layers(model, choice.layers) if choice.layers else []  # the default needs a forward pass
    selected = SelectedLayers(model.eval(), layers, choose_head(model, choice.head), choice.mean, choice.std)
    probe = dataset.train.images[:PROBE_IMAGES]
    try:
        with torch.no_grad():
            logits = selected(probe)
    except PLUGIN_FAILURES as exc:
        raise HfcbenchError(f"--model {choice.name} fails on inputs of shape {tuple(probe.shape)} from "
                            f"{dataset.name}: {failure_text(exc)}") from None
    if not isinstance(logits, torch.Tensor) or logits.shape != (len(probe), dataset.num_classes):
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise HfcbenchError(f"--model {choice.name} returns {shape} for {len(probe)} images; expected logits of shape "
                            f"({len(probe)}, {dataset.num_classes}) for the {dataset.num_classes} classes of "
                            f"{dataset.name}")
    if choice.layers:
        check_hookable(selected, probe)
    else:
        selected.layers = default_layers(selected, probe)
    return selected
