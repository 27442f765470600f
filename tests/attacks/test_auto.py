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


def run(arms, calibration, done=None):
    attack = ScoredByLevel(None, arms, None, calibration=calibration, done=done)
    x, y = torch.full((4, 1, 2, 2), 0.5), torch.zeros(4, dtype=torch.long)
    return attack, attack.in_batches(x, y, batch_size=2)


def test_later_arms_attack_only_what_is_not_broken_and_the_lowest_score_wins():
    # broken: fooled with a score below every calibration score (0.2 here)
    # image 0: arm a breaks it (0.1 < 0.2): b never sees it; image 1: a fools at 0.6 (not broken),
    # b lowers it to 0.3; image 2: a fails, b fools at 0.9; image 3: nobody fools
    a = PlannedArm([0.1, 0.6, 0.4, 0.7], [True, True, False, False])
    b = PlannedArm([0.0, 0.3, 0.9, 0.2], [True, True, True, False])
    attack, result = run({"a": a, "b": b}, calibration=[0.9, 0.2, 0.5])
    assert a.attacked == [0, 1, 2, 3] and b.attacked == [1, 2, 3]
    assert result.success.tolist() == [True, True, True, False]
    assert result.adv.flatten(1)[:, 0].tolist() == pytest.approx([0.1, 0.3, 0.9, 0.7])  # 3: a's AE
    assert result.target.tolist() == [1, 1, 1, 1]
    assert attack.worst_by == {"a": 1, "b": 2}


def test_without_calibration_scores_every_arm_attacks_every_image():
    a = PlannedArm([0.1, 0.6, 0.4, 0.7], [True, True, False, False])
    b = PlannedArm([0.0, 0.3, 0.9, 0.2], [True, False, True, False])
    attack, result = run({"a": a, "b": b}, calibration=None)
    assert b.attacked == [0, 1, 2, 3]
    assert result.adv.flatten(1)[:, 0].tolist() == pytest.approx([0.0, 0.6, 0.9, 0.7])
    assert attack.worst_by == {"a": 1, "b": 2}


def test_an_arm_given_as_done_counts_first_and_is_not_crafted_again():
    shared = PlannedArm([0.1, 0.5, 0.5, 0.5], [True, False, False, True])
    done = shared.in_batches(torch.zeros(4, 1, 2, 2), torch.zeros(4, dtype=torch.long), batch_size=4,
                             index=range(4))
    shared.attacked.clear()
    own = PlannedArm([0.3, 0.3, 0.3, 0.3], [True, True, True, True])
    attack, result = run({"own": own, "shared": shared}, calibration=[0.2, 0.3], done={"shared": done})
    assert shared.attacked == [] and own.attacked == [1, 2, 3]
    assert attack.worst_by == {"shared": 1, "own": 3}
    assert attack.trace is None


def test_a_nan_score_still_keeps_a_successful_ae():
    class NaNScores(ScoredByLevel):
        def _scores(self, adv):
            return torch.full((len(adv),), float("nan"), dtype=torch.float64)

    a = PlannedArm([0.8, 0.8, 0.8, 0.8], [False, True, False, False])
    b = PlannedArm([0.2, 0.2, 0.2, 0.2], [True, False, False, False])
    attack = NaNScores(None, {"a": a, "b": b}, None, calibration=[0.5])
    result = attack.in_batches(torch.full((4, 1, 2, 2), 0.5), torch.zeros(4, dtype=torch.long), batch_size=4)
    assert result.success.tolist() == [True, True, False, False]
    assert result.adv.flatten(1)[:, 0].tolist()[:2] == pytest.approx([0.2, 0.8])


def test_an_ae_at_the_lowest_calibration_score_is_not_yet_broken():
    a = PlannedArm([0.25, 0.25, 0.25, 0.25], [True, True, True, True])
    b = PlannedArm([0.0, 0.0, 0.0, 0.0], [True, True, True, True])
    attack, _ = run({"a": a, "b": b}, calibration=[0.25, 0.75])  # ties with the lowest clean score: not below it
    assert b.attacked == [0, 1, 2, 3] and attack.worst_by == {"a": 0, "b": 4}


def test_a_subset_is_attacked_as_within_the_whole_set(trained_synthetic):
    """APGD's random starts and the targets are keyed by position: attacking rows 3..9 with their
    positions gives what the whole set gives for them."""
    from hfcbench.attacks.apgd import APGD

    model, dataset = trained_synthetic
    x, y = dataset.test.images[:10], dataset.test.labels[:10]
    whole = APGD(model, eps=8 / 256, steps=5, seed=3).in_batches(x, y, batch_size=4)
    part = APGD(model, eps=8 / 256, steps=5, seed=3).in_batches(x[3:], y[3:], batch_size=4, index=range(3, 10))
    assert torch.allclose(part.adv, whole.adv[3:], atol=1e-6) and torch.equal(part.target, whole.target[3:])
