"""Targeted L-inf attacks (base and adaptive); ``ATTACKS`` names them.

Every attack follows :class:`hfcbench.attacks.base.Attack`.
"""

from __future__ import annotations

from ..registry import Registry
from .base import Attack, AttackResult, LossTerm

ATTACKS: Registry = Registry("attacks", {})

__all__ = ["ATTACKS", "Attack", "AttackResult", "LossTerm"]
