"""``auto``'s sequence of arms (AutoAttack's rule: each next arm attacks only the images no earlier
arm broke), checked with arms whose results are set by hand."""

import pytest
import torch

from hfcbench.attacks.auto import AutoDetectorAttack
from hfcbench.attacks.base import AttackResult


class PlannedArm:
    """An arm whose AE for image i is the constant image ``level[i]`` (its detector score, see
    below), successful where ``fools[i]``; it records the positions it was asked to attack."""

    def __init__(self, level, fools):
        self.level, self.fools = torch.tensor(level, dtype=torch.float32), torch.tensor(fools)
        self.attacked: list[int] = []
        self.trace = None

    def in_batches(self, x, y, *, batch_size, index, desc="", progress=False):
        self.attacked += [int(i) for i in index]
        rows = torch.as_tensor(index)
        adv = self.level[rows].view(-1, 1, 1, 1).expand_as(x).clone()
        return AttackResult(adv, 1 - y, self.fools[rows])


class ScoredByLevel(AutoDetectorAttack):
    def _scores(self, adv):  # the detector's score of a constant image is its level
        return adv.flatten(1)[:, 0].double()


def run(arms, threshold, done=None):
    attack = ScoredByLevel(None, arms, None, threshold=threshold, done=done)
    x, y = torch.full((4, 1, 2, 2), 0.5), torch.zeros(4, dtype=torch.long)
    return attack, attack.in_batches(x, y, batch_size=2)


def test_later_arms_attack_only_what_is_not_broken_and_the_lowest_score_wins():
    # image 0: arm a breaks it (0.1 <= 0.2): b never sees it; image 1: a fools at 0.6 (not broken),
    # b lowers it to 0.3; image 2: a fails, b fools at 0.9; image 3: nobody fools
    a = PlannedArm([0.1, 0.6, 0.4, 0.7], [True, True, False, False])
    b = PlannedArm([0.0, 0.3, 0.9, 0.2], [True, True, True, False])
    attack, result = run({"a": a, "b": b}, threshold=0.2)
    assert a.attacked == [0, 1, 2, 3] and b.attacked == [1, 2, 3]
    assert result.success.tolist() == [True, True, True, False]
    assert result.adv.flatten(1)[:, 0].tolist() == pytest.approx([0.1, 0.3, 0.9, 0.7])  # 3: a's AE
    assert result.target.tolist() == [1, 1, 1, 1]
    assert attack.worst_by == {"a": 1, "b": 2}


def test_without_a_threshold_every_arm_attacks_every_image():
    a = PlannedArm([0.1, 0.6, 0.4, 0.7], [True, True, False, False])
    b = PlannedArm([0.0, 0.3, 0.9, 0.2], [True, False, True, False])
    attack, result = run({"a": a, "b": b}, threshold=None)
    assert b.attacked == [0, 1, 2, 3]
    assert result.adv.flatten(1)[:, 0].tolist() == pytest.approx([0.0, 0.6, 0.9, 0.7])
    assert attack.worst_by == {"a": 1, "b": 2}


def test_an_arm_given_as_done_counts_first_and_is_not_crafted_again():
    shared = PlannedArm([0.1, 0.5, 0.5, 0.5], [True, False, False, True])
    done = shared.in_batches(torch.zeros(4, 1, 2, 2), torch.zeros(4, dtype=torch.long), batch_size=4,
                             index=range(4))
    shared.attacked.clear()
    own = PlannedArm([0.3, 0.3, 0.3, 0.3], [True, True, True, True])
    attack, result = run({"own": own, "shared": shared}, threshold=0.2, done={"shared": done})
    assert shared.attacked == [] and own.attacked == [1, 2, 3]
    assert attack.worst_by == {"shared": 1, "own": 3}
    assert attack.trace is None


def test_a_nan_score_still_keeps_a_successful_ae():
    class NaNScores(ScoredByLevel):
        def _scores(self, adv):
            return torch.full((len(adv),), float("nan"), dtype=torch.float64)

    a = PlannedArm([0.8, 0.8, 0.8, 0.8], [False, True, False, False])
    b = PlannedArm([0.2, 0.2, 0.2, 0.2], [True, False, False, False])
    attack = NaNScores(None, {"a": a, "b": b}, None, threshold=0.5)
    result = attack.in_batches(torch.full((4, 1, 2, 2), 0.5), torch.zeros(4, dtype=torch.long), batch_size=4)
    assert result.success.tolist() == [True, True, False, False]
    assert result.adv.flatten(1)[:, 0].tolist()[:2] == pytest.approx([0.2, 0.8])
