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
    # (these records carry no evasion rate, so the ranking falls back to the worst AUC and says so)
    assert [[row[1], row[4], row[5]] for row in detectors.rows] == [["kd", "60.0 [55.0, 65.0]", "bim+hfc"],
                                                                    ["maha", "30.0 [25.0, 35.0] inv", "bim+hfc"]]
    assert "ranked by the worst AUC" in detectors.note
    attacks = _by_kind(found, "attacks")
    assert attacks.row_keys == ["bim+hfc"] and "left out" in attacks.note  # closest has no cell with 20 AEs
    # the same records with a rule of 5 AEs: the thin cell now decides kd's place, and closest is ranked
    found = tables(thin_board(), min_aes=5)
    assert [row[1] for row in _by_kind(found, "detectors").rows] == ["maha", "kd"]
    attacks = _by_kind(found, "attacks")
    # only kd has AEs under both attacks: each attack's mean is over kd alone (drop 90.0 before 35.0)
    assert attacks.row_keys == ["closest", "bim+hfc"] and "the same 1 detectors under every attack (kd)" in attacks.note


def test_the_worst_auc_is_the_lowest_value_not_the_lowest_bound():
    """0.60 [0.57, 0.63] on 400 AEs against 0.75 [0.50, 0.95] on 25: the worst AUC is 60.0, and the
    cell not separated from it is named beside it."""
    found = tables([record("pneumoniamnist", "lid", "bim+hfc", 0.60, n_after=400, half_width=0.03),
                    record("pneumoniamnist", "lid", "closest", 0.75, n_after=25, half_width=0.20)], min_aes=20)
    (row,) = _by_kind(found, "detectors").rows
    assert row[4:6] == ["60.0 [57.0, 63.0]", "bim+hfc (~ closest)"]


def test_the_fit_attacks_own_aes_enter_the_worst_case():
    """BU at 55.0 on the fit attack's AEs, 69.7 after the adaptive attack: its worst AUC is 55.0, by bim."""
    found = tables([record("pneumoniamnist", "bu", "cw+hfc", 0.697, before=0.55, fit_attack="cw")], min_aes=20)
    (row,) = _by_kind(found, "detectors").rows
    assert row[4:6] == ["55.0 [50.0, 60.0]", "cw"]


def test_two_fit_attacks_keep_their_own_worst_case_cells():
    found = tables([record("pneumoniamnist", "maha", "worst-case", 0.30, fit_attack="bim"),
                    record("pneumoniamnist", "maha", "worst-case", 0.70, fit_attack="pgd"),
                    record("pneumoniamnist", "maha", "bim+hfc", 0.40, fit_attack="bim"),
                    record("pneumoniamnist", "maha", "pgd+hfc", 0.80, fit_attack="pgd")], min_aes=20)
    main = _by_kind(found, "main")
    assert _cell(main, "maha", "worst-case [bim] AUC").endswith("-> 30.0 [25.0, 35.0] inv")
    assert _cell(main, "maha", "worst-case [pgd] AUC").endswith("-> 70.0 [65.0, 75.0]")
    assert "bim -> worst-case [bim], pgd -> worst-case [pgd]" in main.caption
    (row,) = _by_kind(found, "detectors").rows
    assert row[4:6] == ["30.0 [25.0, 35.0] inv", "worst-case [bim]"]


def test_an_auc_interval_below_chance_is_marked_inverted():
    found = tables([record("pneumoniamnist", "kd", "bim+hfc", 0.20), record("pneumoniamnist", "maha", "bim+hfc", 0.47)])
    main = _by_kind(found, "main")
    assert _cell(main, "kd", "bim+hfc AUC").endswith("-> 20.0±5.0 inv") is False  # full intervals by default
    assert _cell(main, "kd", "bim+hfc AUC").endswith("-> 20.0 [15.0, 25.0] inv")
    assert _cell(main, "maha", "bim+hfc AUC").endswith("-> 47.0 [42.0, 52.0]")  # its interval holds 50
    assert "'inv'" in main.note


def test_detectors_rank_by_worst_evasion_with_paired_verdicts():
    """Three detectors on the same 50 images. kd evades on images 0-29, maha on 0-27 (a subset of
    kd's: they differ on 2 images, and a resample draws neither with probability (48/50)^50 = 13%, so
    the difference's interval holds 0), lid on images 0-5 (0.12, above its fit attack's 0.10).
    Worked by hand: kd - lid is 24 images and maha - lid 22, never 0 in a resample (a resample
    misses all 22 with probability (28/50)^50 < 1e-12): separated."""
    images = 50

    def evaded(hits):
        return "".join("1" if i < hits else "0" for i in range(images))

    found = tables([record("pneumoniamnist", "kd", "bim+hfc", 0.6, evasion=0.60, evaded=evaded(30)),
                    record("pneumoniamnist", "maha", "bim+hfc", 0.5, evasion=0.56, evaded=evaded(28)),
                    record("pneumoniamnist", "lid", "bim+hfc", 0.9, evasion=0.12, evaded=evaded(6))], min_aes=20)
    ranking = _by_kind(found, "detectors")
    assert ranking.row_keys == ["lid", "maha", "kd"]  # lowest worst-case evasion first
    verdicts = {row[1]: row[-1] for row in ranking.rows}
    assert verdicts["lid"] == "-"
    assert verdicts["maha"] == "kd" and verdicts["kd"] == "maha"
    assert ranking.rows[0][2:4] == ["12.0 [7.0, 17.0]", "bim+hfc"]


def test_paired_verdicts_separate_what_overlapping_intervals_would_not():
    """Evasions 0.50 [0.36, 0.64] and 0.36 [0.22, 0.50]: the intervals overlap. But the two
    detectors differ on the same 7 of 50 images, all in kd's disfavour: a resample leaves the
    difference at 0 only if it draws none of the 7, with probability (43/50)^50 = 0.05%, far
    below the 2.5% tail, so the paired interval excludes 0 and the two are separated."""
    a = "1" * 25 + "0" * 25
    b = "1" * 18 + "0" * 32
    found = tables([record("pneumoniamnist", "kd", "bim+hfc", 0.6, evasion=0.50, evaded=a, half_width=0.14),
                    record("pneumoniamnist", "maha", "bim+hfc", 0.6, evasion=0.36, evaded=b, half_width=0.14)])
    verdicts = {row[1]: row[-1] for row in _by_kind(found, "detectors").rows}
    assert verdicts == {"maha": "-", "kd": "-"}
    # without the per-image evasion (records of an older version), overlapping intervals decide
    older = [record("pneumoniamnist", d, "bim+hfc", 0.6, evasion=e, half_width=0.14)
             for d, e in (("kd", 0.50), ("maha", 0.36))]
    assert all("per_image" not in r for r in older)
    verdicts = {row[1]: row[-1] for row in _by_kind(tables(older), "detectors").rows}
    assert verdicts == {"maha": "kd", "kd": "maha"}


def test_attacks_are_compared_on_one_common_set_of_detectors():
    """lid has enough AEs under bim+hfc only: both attacks are averaged over kd and maha alone."""
    found = tables([record("pneumoniamnist", "kd", "bim+hfc", 0.5), record("pneumoniamnist", "maha", "bim+hfc", 0.3),
                    record("pneumoniamnist", "lid", "bim+hfc", 0.1),
                    record("pneumoniamnist", "kd", "random", 0.6), record("pneumoniamnist", "maha", "random", 0.4),
                    record("pneumoniamnist", "lid", "random", 0.2, n_after=3)], min_aes=20)
    attacks = _by_kind(found, "attacks")
    rows = {row[1]: row for row in attacks.rows}
    assert rows["bim+hfc"][2].startswith("55.0 ") and rows["random"][2].startswith("45.0 ")  # (45 + 65) / 2, ...
    assert rows["bim+hfc"][4] == rows["random"][4] == 2
    assert "the same 2 detectors under every attack (kd, maha)" in attacks.note


def test_two_seeds_aggregate_into_a_t_interval_floored_by_the_bootstrap():
    """Mean over seeds +- t(0.975, 1) sqrt(max(s^2, mean se^2) / 2), cut to [0, 1], by hand."""
    afters, ses = (0.30, 0.40), (0.02, 0.03)
    found = tables([record("pneumoniamnist", "maha", "bim+hfc", a, seed=s, se=se)
                    for s, (a, se) in enumerate(zip(afters, ses, strict=True))], min_aes=20)
    main = _by_kind(found, "main")
    assert "/ seeds 0, 1 (" in main.caption and "t-interval over the 2 seeds" in main.note
    assert "floored at the seeds' mean bootstrap variance" in main.note
    variance = max(np.var(afters, ddof=1), np.mean(np.square(ses)))
    half = stats.t.ppf(0.975, 1) * math.sqrt(variance / 2)
    mean = np.mean(afters)
    expected = f"{100 * mean:.1f} [{100 * max(mean - half, 0):.1f}, {100 * min(mean + half, 1):.1f}]"
    assert _cell(main, "maha", "bim+hfc AUC").split(" -> ")[1] == expected
    # the within-seed floor: two seeds that agree exactly keep their bootstrap's width, not zero
    agree = tables([record("pneumoniamnist", "maha", "bim+hfc", 0.30, seed=s, se=0.02) for s in (0, 1)])
    half = stats.t.ppf(0.975, 1) * math.sqrt(0.02 ** 2 / 2)
    assert _cell(_by_kind(agree, "main"), "maha", "bim+hfc AUC").split(" -> ")[1] == \
        f"30.0 [{100 * (0.30 - half):.1f}, {100 * (0.30 + half):.1f}] inv"  # its whole interval is below 50


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


def test_benign_shift_records_get_their_own_table_and_stay_out_of_the_leaderboard():
    from hfcbench.report.leaderboard import render

    shifted = record("pneumoniamnist", "maha", "benign:gaussian_noise@3", None)
    shifted["metrics"] = {"fpr5_shift": 0.25, "fpr5_shift_ci_low": 0.1, "fpr5_shift_ci_high": 0.45, "n_shifted": 20,
                          "n_flagged": 5, "kept": 0.8, "fpr5_realised": 0.05, "threshold_fpr5": 1.0}
    shifted["benign_shift"] = {"family": "gaussian_noise", "severity": 3, "parameter": 0.06,
                               "parameters_of": "pneumoniamnist"}
    cells = [record("pneumoniamnist", "maha", "bim+hfc", 0.3)]
    found = tables([*cells, shifted])
    assert all("benign:" not in " ".join(t.headers) for t in found)
    assert [t.kind for t in found] == [t.kind for t in tables(cells)]
    text = render([*cells, shifted], "github")
    assert "false alarms on benign shift" in text and "| gaussian_noise @ 3 " in text and "25.0 [10.0, 45.0]" in text


def test_the_text_tables_fit_120_columns_and_keep_every_cell():
    """Eleven attacks on eight detectors: the Markdown keeps one wide table (each row of the main
    table a single line of 23 cells); the text cuts it into parts of at most 120 characters, each
    led by the detector column, and every cell of the wide table is printed in one of them."""
    from hfcbench.report.leaderboard import TERMINAL_WIDTH, render

    attacks = ["bim+hfc", "closest", "random", "kde", "lid", "joint", "selective", "orthogonal", "auto", "a+b",
               "worst-case (paper attacks)"]
    records = [record("pneumoniamnist", det, attack, 0.123 + 0.05 * i) for i, det in enumerate(
        ["bu", "dnn", "dnn-mlp", "hfc", "kd", "lid", "maha", "svm"]) for attack in attacks]
    markdown = render(records, "github")
    assert max(map(len, markdown.splitlines())) > 600  # the wide form stays wide
    text = render(records, "simple")
    assert max(map(len, text.splitlines())) <= TERMINAL_WIDTH
    main = _by_kind(tables(records, compact=True), "main")
    for row in main.rows:
        for value in row[1:]:
            if value:
                assert any(line.startswith(row[0]) and value in line for line in text.splitlines()), value
    for attack in attacks:  # an attack's AUC and TPR columns stay in one part
        assert any(f"{attack} AUC" in line and f"{attack} TPR@90" in line for line in text.splitlines())


def test_stages_are_numbered_and_timed(capsys, monkeypatch):
    from hfcbench.protocol import stages

    clock = iter([0.0, 12.4, 292.4, 295.4])  # the starts of three stages and the summary, in seconds
    monkeypatch.setattr(stages.time, "perf_counter", lambda: next(clock))
    plan = stages.Stages(2)
    plan.start("load")
    plan.start("train")
    plan.start("again")  # past the plan: numbered without a total
    summary = plan.summary()
    assert capsys.readouterr().err.splitlines() == ["stage 1 of 2: load", "stage 2 of 2: train", "stage 3: again"]
    assert summary == "stage times: load 12 s, train 4 m 40 s, again 3 s"
    assert stages.duration(3720) == "1 h 2 m"
