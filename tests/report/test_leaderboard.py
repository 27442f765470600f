"""Leaderboard verdicts on records written by hand: the minimum-AE rule keeps thin cells out of
every ranking, overlapping intervals are named, and several seeds aggregate into a t-interval
worked out here with scipy."""

import math

import numpy as np
import pytest
from scipy import stats

from hfcbench.cli import main
from hfcbench.report.leaderboard import tables
from hfcbench.results import read_records
from tests.records import record


def _by_kind(found, kind):
    (table,) = [t for t in found if t.kind == kind]
    return table


def _cell(table, row_key, column):
    return table.rows[table.row_keys.index(row_key)][table.headers.index(column)]


def thin_board():
    """maha 0.30 and kd 0.60 after BIM+HFC on 40 AEs; kd after the closest guide 0.05 on 5 AEs."""
    return [record("pneumoniamnist", "maha", "bim+hfc", 0.30), record("pneumoniamnist", "kd", "bim+hfc", 0.60),
            record("pneumoniamnist", "kd", "closest", 0.05, n_after=5)]


def test_a_cell_below_min_aes_cannot_win_a_ranking():
    found = tables(thin_board(), min_aes=20)
    main = _by_kind(found, "main")
    assert _cell(main, "kd", "closest AUC") == "95.0 [90.0, 100.0] -> n<20 (n=5)"
    assert _cell(main, "kd", "closest TPR@90") == "90.0 -> n<20"  # no TPR from 5 AEs either
    assert _cell(main, "kd", "bim+hfc TPR@90") == "90.0 -> 40.0"
    detectors = _by_kind(found, "detectors")
    # kd's lowest AUC (5.0, closest) rests on 5 AEs: its worst case is bim+hfc's 60.0, so it ranks above maha
    assert [row[1:4] for row in detectors.rows] == [["kd", "60.0 [55.0, 65.0]", "bim+hfc"],
                                                    ["maha", "30.0 [25.0, 35.0]", "bim+hfc"]]
    attacks = _by_kind(found, "attacks")
    assert attacks.row_keys == ["bim+hfc"] and "left out" in attacks.note  # closest has no cell with 20 AEs
    # the same records with a rule of 5 AEs: the thin cell now decides kd's place, and closest is ranked
    found = tables(thin_board(), min_aes=5)
    assert [row[1] for row in _by_kind(found, "detectors").rows] == ["maha", "kd"]
    assert _by_kind(found, "attacks").row_keys == ["closest", "bim+hfc"]  # drop 90.0 before 50.0


def test_a_detector_with_only_thin_cells_is_named_as_not_ranked():
    found = tables([record("pneumoniamnist", "lid", "bim+hfc", 0.1, n_after=3),
                    record("pneumoniamnist", "maha", "bim+hfc", 0.5)], min_aes=20)
    detectors = _by_kind(found, "detectors")
    assert detectors.row_keys == ["maha"] and "Not ranked (no attack with 20 AEs): lid." in detectors.note


def test_rankings_name_the_entries_their_intervals_overlap():
    found = tables([record("pneumoniamnist", "maha", "bim+hfc", 0.30), record("pneumoniamnist", "lid", "bim+hfc", 0.38),
                    record("pneumoniamnist", "kd", "bim+hfc", 0.70)], min_aes=20)
    detectors = _by_kind(found, "detectors")
    verdicts = {row[1]: row[-1] for row in detectors.rows}
    # [25, 35] and [33, 43] share values; [65, 75] shares none with either
    assert verdicts == {"kd": "-", "lid": "maha", "maha": "lid"}


def test_two_seeds_aggregate_into_a_t_interval_floored_by_the_bootstrap():
    """Mean over seeds +- t(0.975, 1) sqrt(max(s^2, mean se^2) / 2), cut to [0, 1], by hand."""
    afters, ses = (0.30, 0.40), (0.02, 0.03)
    found = tables([record("pneumoniamnist", "maha", "bim+hfc", a, seed=s, se=se)
                    for s, (a, se) in enumerate(zip(afters, ses, strict=True))], min_aes=20)
    main = _by_kind(found, "main")
    assert "/ seeds 0, 1 (" in main.caption and "t-interval over the 2 seeds" in main.note
    variance = max(np.var(afters, ddof=1), np.mean(np.square(ses)))
    half = stats.t.ppf(0.975, 1) * math.sqrt(variance / 2)
    mean = np.mean(afters)
    expected = f"{100 * mean:.1f} [{100 * max(mean - half, 0):.1f}, {100 * min(mean + half, 1):.1f}]"
    assert _cell(main, "maha", "bim+hfc AUC").split(" -> ")[1] == expected
    # the within-seed floor: two seeds that agree exactly keep their bootstrap's width, not zero
    agree = tables([record("pneumoniamnist", "maha", "bim+hfc", 0.30, seed=s, se=0.02) for s in (0, 1)])
    half = stats.t.ppf(0.975, 1) * math.sqrt(0.02 ** 2 / 2)
    assert _cell(_by_kind(agree, "main"), "maha", "bim+hfc AUC").split(" -> ")[1] == \
        f"30.0 [{100 * (0.30 - half):.1f}, {100 * (0.30 + half):.1f}]"


@pytest.mark.slow
def test_seeds_option_runs_the_protocol_per_seed_and_aggregates(tmp_path, data_dir):
    """``--seeds 0,1``: one classifier, split and attack per seed, per-seed records in one file, one
    aggregated table naming both seeds."""
    out = tmp_path / "out"
    assert main(["run", "--profile", "smoke", "--detectors", "maha,kd", "--attacks", "bim+hfc", "--fit-attacks", "bim",
                 "--seeds", "0,1", "--quiet", "--device", "cpu", "--data-dir", str(data_dir), "--out", str(out),
                 "--cache-dir", str(tmp_path / "cache")]) == 0
    records = read_records([out / "results.jsonl"])
    by_seed = {}
    for r in records:
        by_seed.setdefault(r["seed"], []).append(r)
    assert set(by_seed) == {0, 1} and len(by_seed[0]) == len(by_seed[1])
    assert {r["params"]["seed"] for r in by_seed[1]} == {1}
    assert by_seed[0][0]["params"]["test_accuracy"] != by_seed[1][0]["params"]["test_accuracy"] or \
        by_seed[0][0]["metrics"] != by_seed[1][0]["metrics"]  # another classifier and split: other numbers
    markdown = (out / "leaderboard.md").read_text()
    assert "/ seeds 0, 1 (" in markdown and "t-interval over the 2 seeds" in markdown
