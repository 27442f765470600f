"""Adaptive attacks (paper Sec. IV and V-C): loss terms added to (or replacing) a base attack's
objective. Each is built by ``from_context(context, **params)`` from an :class:`AttackContext`."""

from .context import AttackContext

__all__ = ["AttackContext"]
