"""The gate on records written by hand: AUCs fail beyond the tolerance; the operating-point rates
(counts over few images) fail only beyond the tolerance and outside the baseline's interval."""

import copy

import pytest

from hfcbench.report.gate import compare, make_baseline
from tests.records import record


def _records(evasion=0.5, auc_before=0.95):
    r = record("pneumoniamnist", "maha", "bim+hfc", 0.40, evasion=evasion, half_width=0.2, before=auc_before)
    return [r]


@pytest.mark.parametrize("evasion, passed", [(0.5, True), (0.45, True), (0.25, False), (0.75, True)])
def test_evasion_fails_only_when_it_falls_beyond_the_tolerance_and_the_interval(evasion, passed):
    baseline = make_baseline(_records())  # evasion 0.5 [0.3, 0.7]
    ok, report = compare(_records(evasion=evasion), baseline, 0.02)
    assert ok is passed, report
    if not passed:
        assert "evasion5" in [line for line in report.splitlines() if line.rstrip().endswith("FAIL")][0]


def test_an_auc_fails_beyond_the_tolerance_even_inside_its_interval():
    baseline = make_baseline(_records())  # AUC before 0.95 [0.75, 1.15]
    ok, report = compare(_records(auc_before=0.90), baseline, 0.02)
    assert not ok and "check FAILED: metrics moved beyond the tolerance 0.02" in report


def test_tpr_at_5_percent_fpr_is_gated_on_the_base_attack():
    records = _records()
    records[0]["metrics"].update(tpr_fpr5_before=0.8, tpr_fpr5_before_ci_low=0.7, tpr_fpr5_before_ci_high=0.9)
    baseline = make_baseline(records)
    worse = copy.deepcopy(records)
    worse[0]["metrics"]["tpr_fpr5_before"] = 0.6
    ok, report = compare(worse, baseline, 0.02)
    assert not ok and "tpr_fpr5_before" in report
    assert compare(records, baseline, 0.02)[0]
