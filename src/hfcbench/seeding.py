"""Random draws that depend on the seed and on each input's index, never on how inputs are batched.

Every random choice of an attack or of the harness (PGD's random start, a random target class,
a random guide image, the noise of a noisy copy) is drawn per input from a generator seeded by
``(seed, index, stream)``: ``index`` is the input's position in the set being processed, and
``stream`` names the use, so that two uses never share draws. Running the same inputs in
batches of 8 or of 64 therefore gives the same numbers.
"""

from __future__ import annotations

import numpy as np
import torch

STREAMS = {"pgd-start": 1, "target": 2, "guide": 3, "noisy": 4, "apgd-start": 5}


def input_seed(seed: int, index: int, stream: str) -> int:
    """A 63-bit seed for input ``index`` under ``seed``, for the use ``stream`` (see ``STREAMS``)."""
    state = np.random.SeedSequence([int(seed), int(index), STREAMS[stream]]).generate_state(1, np.uint64)[0]
    return int(state) >> 1


def input_generator(seed: int, index: int, stream: str) -> torch.Generator:
    """A CPU ``torch.Generator`` for input ``index`` (draws are moved to the device afterwards)."""
    return torch.Generator().manual_seed(input_seed(seed, index, stream))


def per_input(draw: str, shape: tuple[int, ...], seed: int, index, stream: str, *,
              dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu") -> torch.Tensor:
    """``(len(index), *shape)`` draws, row ``i`` from input ``index[i]``'s generator: ``draw`` is
    ``"uniform"`` (on [0, 1)) or ``"normal"`` (standard)."""
    sampler = {"uniform": torch.rand, "normal": torch.randn}[draw]
    rows = [sampler(shape, generator=input_generator(seed, i, stream), dtype=dtype) for i in np.asarray(index).tolist()]
    out = torch.stack(rows) if rows else torch.empty((0, *shape), dtype=dtype)
    return out.to(device)


def per_input_integers(high: int, seed: int, index, stream: str) -> np.ndarray:
    """(len(index),) integers in ``[0, high)``, one per input from its own generator."""
    return np.array([np.random.default_rng(input_seed(seed, i, stream)).integers(high)
                     for i in np.asarray(index).tolist()], dtype=np.int64)
