"""The stages of a run, announced as they start and timed, so a user knows where the minutes went.

    stage 1 of 4: load pneumoniamnist
    stage 2 of 4: train or load the classifier (resnet20)
    stage 3 of 4: craft AEs, fit and score 8 detectors x 2 attack pairs
    stage 4 of 4: per-image worst cases
    stage times: load pneumoniamnist 2 s, train or load the classifier (resnet20) 4 m 40 s, ...

Lines go to stderr (the leaderboard owns stdout) and are silent under ``--quiet``.
"""

from __future__ import annotations

import sys
import time


def duration(seconds: float) -> str:
    """``4 m 40 s``, ``12 s``, ``1 h 2 m``."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} m {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} m"


class Stages:
    """``Stages(total, quiet)``; ``start(what)`` ends the running stage and begins the next one;
    ``summary()`` ends the last and gives every stage's wall time."""

    def __init__(self, total: int, *, quiet: bool = False):
        self.total, self.quiet = total, quiet
        self.done: list[tuple[str, float]] = []
        self._current: tuple[str, float] | None = None

    def start(self, what: str) -> None:
        now = time.perf_counter()
        self._finish(now)
        self._current = (what, now)
        number = len(self.done) + 1
        if not self.quiet:  # a runner run twice (an experiment) counts on past the plan
            of = f" of {self.total}" if number <= self.total else ""
            print(f"stage {number}{of}: {what}", file=sys.stderr, flush=True)

    def _finish(self, now: float) -> None:
        if self._current is not None:
            what, began = self._current
            self.done.append((what, now - began))
            self._current = None

    def summary(self) -> str:
        self._finish(time.perf_counter())
        return "stage times: " + ", ".join(f"{what} {duration(seconds)}" for what, seconds in self.done)
