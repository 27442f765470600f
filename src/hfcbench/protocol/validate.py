"""``hfcbench validate``: check a whole run configuration in seconds, computing nothing.

Everything a run would refuse, refused now: the options (one schema), plugins (they are imported),
every named dataset, model, detector and attack, a user's model (built, its checkpoint loaded, run
once on a few images to check its layers, head and output), the attack pairs ``--attacks`` expands to, the
device, the output and cache folders (writable), and the data files (present, checksummed, and
checked as the loader checks them). No classifier is trained and no attack is run.
"""

from __future__ import annotations

from ..datasets import load_dataset
from ..detectors import DETECTORS
from ..device import resolve_device
from ..models import MODELS
from ..models.zoo import user_model
from ..paths import writable_dir
from .config import RunConfig, attack_pairs, fit_attack_names
from .split import check_pool


def validate(config: RunConfig) -> list[str]:
    """Lines describing what ``config`` would run; raises :class:`HfcbenchError` at the first problem."""
    c = config.resolved()
    detectors = DETECTORS.select(c.detectors)
    for name in detectors:
        DETECTORS.get(name)  # imports an entry-point plugin now, not after training
    pairs = attack_pairs(c.attacks, fit_attack_names(c.fit_attacks))
    device = resolve_device(c.device)
    out = writable_dir(c.out, "--out")
    from ..cache import Cache

    cache = writable_dir(Cache(c.cache_dir).root, "--cache-dir")
    dataset = load_dataset(c.dataset, c.data_dir, download=False, quiet=True, image_size=c.image_size,
                           window=c.window)
    check_pool(dataset.test, c.limit, dataset.name)
    c = c.for_data(dataset.spatial_dims)
    choice = c.model_choice()
    arch = choice.name
    if choice.plain_zoo:
        MODELS.get(arch)
    else:  # built (with its checkpoint's weights) and run once on a few images: layers, head, shapes
        selected = user_model(dataset, choice)
        arch = f"{arch} (hooked: {', '.join(selected.layers)}; head {selected.head}" + \
            (f"; checkpoint {choice.checkpoint})" if choice.checkpoint else ")")
    budget = "auto (searched after training)"
    if isinstance(c.eps, float) and c.alpha is not None:
        budget = f"{256 * c.eps:g}/256, alpha {256 * c.alpha:g}/256"
    return [f"dataset {dataset.name}: {len(dataset.train)} train / {len(dataset.test)} test images of shape "
            f"{dataset.image_shape}, {dataset.num_classes} classes" + (f" ({dataset.note})" if dataset.note else ""),
            f"model {arch}; device {device}; profile {c.profile}: eps {budget}, {c.steps} steps",
            f"seeds {', '.join(map(str, c.seeds or [c.seed]))}",
            f"detectors ({len(detectors)}): {', '.join(detectors)}",
            f"attack pairs ({len(pairs)}): {', '.join(f'{a} -> {b}' for a, b in pairs)}",
            f"writes to {out}; cache {cache}"]
