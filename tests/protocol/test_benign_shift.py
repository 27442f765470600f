"""``--benign-shift`` end to end on real chest X-rays (smoke profile): the false-alarm table, its
records against the leaderboard's own thresholds, and the bad inputs it refuses."""

import pytest

from hfcbench.cli import main
from hfcbench.datasets.corruptions import GENERIC_FAMILIES, MODALITY_FAMILIES, chosen_families
from hfcbench.errors import InvalidParameterError
from hfcbench.results import read_records
from hfcbench.stats.intervals import proportion_interval

RUN = ["run", "--profile", "smoke", "--detectors", "maha,kd", "--attacks", "bim+hfc", "--fit-attacks", "bim",
       "--quiet", "--device", "cpu"]


@pytest.mark.slow
def test_benign_shift_prints_the_false_alarm_table_at_the_leaderboards_thresholds(tmp_path, data_dir, capsys):
    out = tmp_path / "out"
    assert main([*RUN, "--benign-shift", "gaussian_noise,brightness_up", "--out", str(out), "--cache-dir",
                 str(tmp_path / "cache"), "--data-dir", str(data_dir)]) == 0
    printed = capsys.readouterr().out
    assert "false alarms on benign shift (FPR in % at the 5%-FPR threshold" in printed
    for severity in range(1, 6):
        assert f"gaussian_noise @ {severity}" in printed and f"brightness_up @ {severity}" in printed
    shifted = read_records([out / "benign_shift.jsonl"])
    assert len(shifted) == 2 * 2 * 5  # detectors x families x severities
    cells = {r["detector"]: r["metrics"] for r in read_records([out / "results.jsonl"]) if r["attack"] == "bim+hfc"}
    for r in shifted:
        m = r["metrics"]
        # the threshold and the clean FPR are the leaderboard cell's: one calibration set, one rule
        assert m["threshold_fpr5"] == pytest.approx(cells[r["detector"]]["threshold_fpr5"])
        assert m["fpr5_realised"] == pytest.approx(cells[r["detector"]]["fpr5_realised"])
        assert 0 < m["n_shifted"] <= cells[r["detector"]]["n_clean"]
        assert m["fpr5_shift"] == m["n_flagged"] / m["n_shifted"]
        assert (m["fpr5_shift_ci_low"], m["fpr5_shift_ci_high"]) == proportion_interval(m["n_flagged"], m["n_shifted"])
    # the strongest brightening flags more clean images than the uncorrupted set for some detector
    strongest = [r["metrics"] for r in shifted
                 if (r["benign_shift"]["family"], r["benign_shift"]["severity"]) == ("brightness_up", 5)]
    assert len(strongest) == 2 and any(m["fpr5_shift"] > m["fpr5_realised"] for m in strongest)
    # the parameters are PneumoniaMNIST's own in MedMNIST-C (brightness x1.5 at severity 5)
    assert {r["benign_shift"]["parameter"] for r in shifted if r["benign_shift"]["family"] == "brightness_up"
            and r["benign_shift"]["severity"] == 5} == {1.5}
    assert "benign_shift.csv" in {p.name for p in out.iterdir()}
    assert "false alarms on benign shift" in (out / "leaderboard.md").read_text()


def test_an_unknown_family_is_one_line_naming_the_valid_ones(capsys):
    assert main([*RUN, "--benign-shift", "gaussian_noise,fog"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "--benign-shift must be" in err and "'gaussian_noise,fog'" in err
    assert "gaussian_noise" in err and "jpeg_compression" in err and len(err.strip().splitlines()) == 1


def test_datasets_without_medmnist_c_families_use_the_generic_ones_and_say_so():
    families, note = chosen_families("auto", "imagefolder:/scans", 2)
    assert families == list(GENERIC_FAMILIES) and "has no MedMNIST-C families" in note
    families, note = chosen_families("auto", "pneumoniamnist", 2)
    assert families == list(MODALITY_FAMILIES["pneumoniamnist"]) and note is None
    # volumes: the 2-D-only families are dropped from auto and refused by name
    families, _ = chosen_families("auto", "adrenalmnist3d", 3)
    assert "jpeg_compression" not in families and "gaussian_noise" in families
    with pytest.raises(InvalidParameterError, match="jpeg_compression corrupt 2-D images only"):
        chosen_families("jpeg_compression", "adrenalmnist3d", 3)
