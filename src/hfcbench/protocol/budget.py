"""``--eps auto``: the smallest budget at which targeted BIM fools the classifier (paper Sec. V-F).

The paper's eps = 1/256 was chosen for 256x256 inputs; on 28x28 MedMNIST images with a small
ResNet the same budget barely moves the classifier. The paper itself picks budgets by the rule
"Adv. Acc of at least 95%" when it compares chest X-ray with CIFAR-10 (Sec. V-F). ``auto``
applies that rule: the first budget on :data:`EPS_GRID` (in 1/256 units, ascending) at which
targeted BIM succeeds on at least :data:`SUCCESS_TARGET` of the attacked pool.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from ..attacks import build_attack
from ..datasets.splits import stratified_subsample

EPS_GRID = (0.5, 1, 2, 4, 8, 16)
SUCCESS_TARGET = 0.95


@dataclass(frozen=True)
class BudgetSearch:
    """``eps`` chosen (pixel units), ``rates`` {eps/256 on the grid tried: BIM success rate},
    ``reached``: whether any budget met the target (else ``eps`` is the largest tried)."""

    eps: float
    rates: dict
    reached: bool

    def describe(self) -> str:
        tried = ", ".join(f"{e:g}/256: {100 * r:.1f}%" for e, r in self.rates.items())
        verdict = "" if self.reached else f" (no budget reached {100 * SUCCESS_TARGET:.0f}%; using the largest)"
        return f"eps auto = {256 * self.eps:g}/256 from targeted BIM success {tried}{verdict}"


def search_budget(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, *, steps: int, seed: int,
                  grid=EPS_GRID, target: float = SUCCESS_TARGET, batch_size: int = 64,
                  progress: bool = True) -> BudgetSearch:
    """Targeted BIM with ``steps`` steps of ``alpha = 2 eps / steps`` (the paper's ``T = 2 eps /
    alpha``) on ``images`` (N, C, *spatial) for each eps on ``grid`` until ``target`` is met."""
    rates = {}
    for eps_256 in tqdm(grid, desc="eps auto", disable=not progress, leave=False):
        eps = eps_256 / 256
        attack = build_attack("bim", model, eps=eps, alpha=2 * eps / steps, steps=steps, seed=seed)
        success = attack.in_batches(images, labels, batch_size=batch_size).success
        rates[eps_256] = int(success.sum()) / len(success)  # exact: a float32 mean of 19/20 is below 0.95
        if rates[eps_256] >= target:
            return BudgetSearch(eps, rates, True)
    return BudgetSearch(grid[-1] / 256, rates, False)


def as_state(search: BudgetSearch) -> dict:
    return {"eps": search.eps, "grid": list(search.rates), "rates": list(search.rates.values()),
            "reached": search.reached}


def from_state(state: dict) -> BudgetSearch:
    rates = dict(zip(state["grid"], state["rates"], strict=True))
    return BudgetSearch(float(state["eps"]), rates, bool(state["reached"]))


def pool_sample(indices: np.ndarray, labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """At most ``size`` of ``indices``, stratified by ``labels[indices]`` and seeded."""
    return indices[stratified_subsample(labels[indices], size, seed)]
