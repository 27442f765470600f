"""Exact k-nearest-neighbour distances through FAISS (used by LID, Ma et al. 2018).

FAISS's flat L2 index finds candidates with float32 matrix products, where
``||q||^2 + ||r||^2 - 2 q.r`` loses every digit for nearby points: a point at distance 0 can come
back at 1e-3. So FAISS only proposes ``k + extra`` candidates; their distances are recomputed
from the coordinate differences ``q - r`` (whose rounding error is relative to the distance
itself, so a distance of 0 is exactly 0) and re-sorted. A GPU index is used when faiss has GPUs
(``faiss-gpu``, ``pip install hfcbench[gpu]``).
"""

from __future__ import annotations

import numpy as np
import torch

from .errors import InvalidParameterError


def faiss_index(reference: np.ndarray):
    """A flat L2 FAISS index holding the rows of ``reference`` (R, d) in float32; on the GPU when
    faiss has GPUs."""
    import faiss

    index = faiss.IndexFlatL2(reference.shape[1])
    if hasattr(faiss, "get_num_gpus") and faiss.get_num_gpus() > 0:
        index = faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, index)
    index.add(np.ascontiguousarray(reference, dtype=np.float32))
    return index


def nearest_candidates(query: np.ndarray, index, n: int) -> np.ndarray:
    """(Q, n) indices of the ``n`` rows of :func:`faiss_index` ``index`` that FAISS finds nearest
    to each query row (Q, d), nearest first by its float32 products: candidates, whose exact
    distances the caller recomputes from coordinate differences (module docstring)."""
    _, candidates = index.search(np.ascontiguousarray(query, dtype=np.float32), n)
    return candidates


def knn_distances(query: np.ndarray, reference: np.ndarray, k: int, *, skip_zero: bool = False,
                  extra: int = 8) -> np.ndarray:
    """Euclidean distances from each query row to its ``k`` nearest reference rows, ascending.

    Args:
        query: (Q, d); reference: (R, d).
        k: neighbours kept, ``1 <= k <= R`` (``k < R`` when ``skip_zero``).
        skip_zero: drop neighbours at distance 0 (the query itself, or exact duplicates, whose
            ``log 0`` would break LID), keeping the next ones.
        extra: candidates fetched beyond ``k`` before exact re-ranking.

    Returns:
        (Q, k) float64 distances (of the float32-rounded coordinates: relative error ~1e-7).
    """
    query = np.ascontiguousarray(query, dtype=np.float32)
    reference = np.ascontiguousarray(reference, dtype=np.float32)
    if query.ndim != 2 or reference.ndim != 2 or query.shape[1] != reference.shape[1]:
        raise InvalidParameterError(f"query {query.shape} and reference {reference.shape} must be (Q, d) and (R, d)")
    if not 1 <= k <= len(reference) - (1 if skip_zero else 0):
        raise InvalidParameterError(f"k must be in [1, {len(reference) - int(skip_zero)}] for {len(reference)} "
                                    f"reference points, got {k}")
    n_candidates = min(len(reference), k + extra + (extra if skip_zero else 0))
    candidates = nearest_candidates(query, faiss_index(reference), n_candidates)
    exact = torch.empty(candidates.shape, dtype=torch.float64)
    q, r, c = torch.from_numpy(query), torch.from_numpy(reference), torch.from_numpy(candidates)
    for start in range(0, len(query), 512):  # bounded memory: 512 x n_candidates x d at a time
        rows = slice(start, start + 512)
        diff = q[rows, None, :] - r[c[rows]]
        exact[rows] = (diff * diff).sum(-1, dtype=torch.float64).sqrt()
    exact = exact.sort(dim=1).values.numpy()
    if not skip_zero:
        return exact[:, :k]
    nonzero = exact > 0.0
    out = np.empty((len(query), k))
    for row in range(len(query)):
        values = exact[row][nonzero[row]]
        if len(values) < k:  # more duplicates than candidates: fall back to a full exact row
            full = np.sqrt(((reference - query[row]).astype(np.float64) ** 2).sum(1))
            values = np.sort(full[full > 0.0])
            if len(values) < k:
                raise InvalidParameterError(f"only {len(values)} distinct reference points differ from query "
                                            f"{row}; LID needs k={k}")
        out[row] = values[:k]
    return out
