"""``hfcbench run`` end to end on real data (smoke profile), resume after a kill, and the gate."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from hfcbench.cli import main
from hfcbench.protocol.config import attack_pairs
from hfcbench.results import read_records

SMALL = ["--profile", "smoke", "--detectors", "maha,lid,kd", "--attacks", "hfc,closest", "--fit-attacks", "bim,pgd",
         "--quiet", "--device", "cpu"]


def _run_cli(args, **env):
    return subprocess.Popen([sys.executable, "-m", "hfcbench.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **env})


def metrics_by_key(path):
    return {(r["fit_attack"], r["attack"], r["detector"]): r["metrics"] for r in read_records([path])}


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, data_dir):
    root = tmp_path_factory.mktemp("run")
    args = ["run", *SMALL, "--out", str(root / "out"), "--cache-dir", str(root / "cache"), "--data-dir", str(data_dir)]
    assert main(args) == 0
    return root, args


def test_run_writes_records_and_tables(smoke_run, capsys):
    root, _ = smoke_run
    records = read_records([root / "out" / "results.jsonl"])
    # 3 detectors x (bim->bim+hfc, pgd->pgd+hfc, bim->closest, and each fitted detector's per-image worst case:
    # over bim, bim+hfc and closest for the bim-fitted ones, over pgd and pgd+hfc for the pgd-fitted ones)
    assert len(records) == 3 * 5
    worst = {r["fit_attack"]: r["worst_of"] for r in records if r["attack"] == "worst-case"}
    assert worst == {"bim": ["bim", "bim+hfc", "closest"], "pgd": ["pgd", "pgd+hfc"]}  # the fit attack's AEs count
    for record in records:
        assert record["dataset"] == "pneumoniamnist" and record["model"] == "resnet8"
        assert record["params"]["eps"] == pytest.approx(8 / 256) and record["versions"]["hfcbench"]
        m = record["metrics"]
        for name in ("adv_acc_before", "adv_acc_after"):
            assert 0.0 <= m[name] <= 1.0
        for name in ("auc_before", "tpr90_before", "tpr_fpr1_before", "tpr_fpr5_before", "pauc5_before",
                     "fpr1_realised", "fpr5_realised", "evasion5_before", "evasion5"):
            value = m[name]
            assert isinstance(value, float) and 0.0 <= value <= 1.0, name
            assert m[f"{name}_ci_low"] <= value <= m[f"{name}_ci_high"], name  # every new metric has its interval
        # success-aware: an image evades only through a successful AE, so evasion never exceeds success
        assert m["evasion5"] <= m["adv_acc_after"] + 1e-12 and m["evasion5_before"] <= m["adv_acc_before"] + 1e-12
        evaded = record["per_image"]["evaded5"]
        assert len(evaded) == m["n_clean"] and evaded.count("1") / len(evaded) == pytest.approx(m["evasion5"])
    markdown = (root / "out" / "leaderboard.md").read_text()
    assert "| maha" in markdown and "bim+hfc AUC" in markdown and "worst-case [bim] AUC" in markdown
    assert "worst-case [pgd] AUC" in markdown  # both fit attacks keep their worst-case column
    assert "bim+hfc evasion@5%" in markdown and "FPR realised 1% / 5%" in markdown
    assert (root / "out" / "leaderboard.csv").read_text().startswith("dataset,model,seed,fit_attack,attack,detector")
    capsys.readouterr()
    assert main(["leaderboard", str(root / "out" / "results.jsonl")]) == 0
    printed = capsys.readouterr().out  # what `hfcbench run` prints at its end, as the README's first command does
    assert "detectors by worst-case evasion at 5% FPR" in printed and "not separated from" in printed
    assert re.search(r"\d+\.\d±\d+\.\d", printed)  # compact intervals in the text table
    assert "is shown as n<20, with its TPR@90, and enters no ranking" in printed  # the min-AE note


def test_rerun_recomputes_nothing_and_gives_the_same_numbers(smoke_run):
    root, args = smoke_run
    before = metrics_by_key(root / "out" / "results.jsonl")
    cached = sorted([*(root / "cache" / "aes").iterdir(), *(root / "cache" / "detectors").iterdir()])
    assert sum(p.suffix == ".pkl" for p in cached) == 3 * 2  # 3 detectors x 2 fit attacks, fitted once each
    stamps = [p.stat().st_mtime_ns for p in cached]
    (root / "out" / "results.jsonl").unlink()  # records gone: the fitted detectors and AEs come from the cache
    assert main(args) == 0
    assert [p.stat().st_mtime_ns for p in cached] == stamps
    assert len(list((root / "cache" / "detectors").glob("*.pkl"))) == 6
    assert metrics_by_key(root / "out" / "results.jsonl") == before


def test_records_of_an_older_format_are_made_again_not_resumed(smoke_run, tmp_path, data_dir):
    """A results file written by a version before the operating points (no ``format``): the run
    computes its cells again instead of keeping records that lack the new metrics."""
    import json

    root, _ = smoke_run
    old = tmp_path / "results.jsonl"
    lines = [json.loads(line) for line in (root / "out" / "results.jsonl").read_text().splitlines()]
    for r in lines:
        r.pop("format")
        r["metrics"].pop("evasion5")
    old.write_text("".join(json.dumps(r) + "\n" for r in lines))
    args = ["run", *SMALL, "--out", str(tmp_path), "--cache-dir", str(root / "cache"), "--data-dir", str(data_dir)]
    assert main(args) == 0
    records = read_records([old])  # the later record of a key replaces the earlier one
    assert len(records) == len(lines) and all(r["format"] == 2 and "evasion5" in r["metrics"] for r in records)


def test_killed_run_resumes_to_identical_results(smoke_run, tmp_path, data_dir):
    root, _ = smoke_run
    out, cache = tmp_path / "out", tmp_path / "cache"
    args = ["run", *SMALL, "--out", str(out), "--cache-dir", str(cache), "--data-dir", str(data_dir)]
    process = _run_cli(args)
    results = out / "results.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        if results.exists() and len(results.read_text().splitlines()) >= 2:
            break
        time.sleep(0.2)
    assert process.poll() is None, "the run finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    partial = len(read_records([results]))
    assert 1 <= partial < 15
    assert main(args) == 0
    assert metrics_by_key(results) == metrics_by_key(root / "out" / "results.jsonl")


def test_check_passes_then_fails(smoke_run, tmp_path, capsys):
    root, _ = smoke_run
    results = root / "out" / "results.jsonl"
    baseline = tmp_path / "baseline.json"
    assert main(["baseline", str(results), "-o", str(baseline)]) == 0
    assert main(["check", str(results), "--baseline", str(baseline)]) == 0
    out = capsys.readouterr().out
    assert "check passed (15 cells compared; 0 of" in out
    # a detector whose AUC on a base attack fell by 0.3 (planted in the baseline) fails the gate
    data = json.loads(baseline.read_text())
    entry = next(e for e in data["entries"] if e["auc_before"] is not None and e["auc_before"] < 0.7
                 and e["auc_before_ci_high"] - e["auc_before_ci_low"] < 0.5)
    for field in ("auc_before", "auc_before_ci_low", "auc_before_ci_high"):
        entry[field] += 0.3
    baseline.write_text(json.dumps(data))
    assert main(["check", str(results), "--baseline", str(baseline), "--tolerance", "0.02"]) == 1
    out = capsys.readouterr().out
    assert "check FAILED: metrics moved beyond the tolerance 0.02" in out
    (failed,) = [line for line in out.splitlines() if line.rstrip().endswith("FAIL")]
    assert failed.split()[-2] == "yes"  # a move of 0.3 is outside the cell's 95% interval: not noise
    assert main(["check", str(results), "--baseline", str(baseline), "--tolerance", "0.5"]) == 0


@pytest.mark.parametrize("damage, reason", [
    (lambda b: {**b, "entries": []}, "the baseline holds no entries"),
    (lambda b: {**b, "entries": [{**e, "key": ["other", *e["key"][1:]]} for e in b["entries"]]},
     "nothing was compared"),
    (lambda b: {**b, "platform": {**b["platform"], "isa": "avx2"}}, "another platform than the baseline"),
    (lambda b: {**b, "platform": {**b["platform"], "threads": 64}}, "threads"),
])
def test_a_gate_that_would_compare_nothing_or_unlike_things_fails(smoke_run, tmp_path, capsys, damage, reason):
    root, _ = smoke_run
    results = root / "out" / "results.jsonl"
    baseline = tmp_path / "baseline.json"
    assert main(["baseline", str(results), "-o", str(baseline)]) == 0
    baseline.write_text(json.dumps(damage(json.loads(baseline.read_text()))))
    capsys.readouterr()
    assert main(["check", str(results), "--baseline", str(baseline)]) == 1
    assert reason in capsys.readouterr().out
    for bad in ("nan", "-1", "inf"):
        assert main(["check", str(results), "--baseline", str(baseline), "--tolerance", bad]) == 2


def test_the_pinned_gate_reproduces_a_baseline_made_the_same_way(tmp_path, data_dir):
    """--isa avx2 twice, from empty caches: identical records (so any x86 CPU with AVX2 can rerun the
    committed baseline), a passing check, and the pinning recorded in every record."""
    small = ["run", "--profile", "smoke", "--detectors", "maha,kd", "--attacks", "bim+hfc", "--fit-attacks", "bim",
             "--quiet", "--device", "cpu", "--isa", "avx2", "--data-dir", str(data_dir)]
    for name in ("first", "second"):
        assert main([*small, "--out", str(tmp_path / name), "--cache-dir", str(tmp_path / f"cache-{name}")]) == 0
    first, second = (read_records([tmp_path / n / "results.jsonl"]) for n in ("first", "second"))
    assert [r["metrics"] for r in first] == [r["metrics"] for r in second]
    assert all(r["versions"]["isa"] == "avx2" and r["versions"]["cpu_capability"] == "AVX2" for r in first)
    assert main(["baseline", str(tmp_path / "first" / "results.jsonl"), "-o", str(tmp_path / "b.json")]) == 0
    assert main(["check", str(tmp_path / "second" / "results.jsonl"), "--baseline", str(tmp_path / "b.json"),
                 "--tolerance", "0"]) == 0


def test_attack_pairs_follow_the_paper_tables():
    assert attack_pairs("hfc,closest", ["bim", "pgd"]) == [("bim", "bim+hfc"), ("pgd", "pgd+hfc"), ("bim", "closest")]
    assert attack_pairs("mim+hfc,kde", ["bim"]) == [("mim", "mim+hfc"), ("bim", "kde")]
    assert len(attack_pairs("all", ["bim", "pgd", "mim", "tim", "cw"])) == 5 + 4 + 4  # hfc, Table II, detector-aware
    assert attack_pairs("joint,mim+orthogonal", ["bim"]) == [("bim", "joint"), ("mim", "mim+orthogonal")]


def test_bad_run_arguments_are_one_line(capsys, tmp_path):
    assert main(["run", "--attacks", "hfx", "--profile", "smoke", "--quiet", "--out", str(tmp_path)]) == 2
    assert "Did you mean 'hfc'" in capsys.readouterr().err
    assert main(["run", "--fit-attacks", "hfc", "--profile", "smoke", "--quiet"]) == 2
    assert "--fit-attacks takes base attacks" in capsys.readouterr().err
    for flag, value, message in (
        ("--hfc-weight", "-1", "--hfc-weight (hfc_weight in a config file) must be a finite number >= 0"),
        ("--gmm-components", "0", "--gmm-components (gmm_components in a config file) must be a whole number >= 1")):
        assert main(["run", flag, value, "--profile", "smoke", "--quiet", "--out", str(tmp_path)]) == 2
        assert message in capsys.readouterr().err
    config = tmp_path / "run.toml"
    config.write_text('profile = "smoke"\nepss = "1/256"\n')
    assert main(["run", "--config", str(config)]) == 2
    assert "unknown keys ['epss']" in capsys.readouterr().err


def test_toml_config_and_plugin_detector_in_a_run(smoke_run, tmp_path, data_dir, monkeypatch):
    root, _ = smoke_run
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "examples" / "plugin-detector"))
    config = tmp_path / "run.toml"
    config.write_text('profile = "smoke"\neps = "8/256"\nattacks = "hfc"\nfit-attacks = "bim"\n'
                      'detectors = "centroid,maha"\ndevice = "cpu"\n')
    out = tmp_path / "out"
    args = ["run", "--config", str(config), "--plugin", "hfcbench_example_detector:CentroidDistance", "--out",
            str(out), "--cache-dir", str(root / "cache"), "--data-dir", str(data_dir), "--quiet"]
    assert main(args) == 0
    records = read_records([out / "results.jsonl"])
    assert {r["detector"] for r in records} == {"centroid", "maha"}
    assert all(r["metrics"]["auc_before"] is not None for r in records)


def test_plots_are_written_as_png(smoke_run, capsys):
    pytest.importorskip("matplotlib")
    root, args = smoke_run
    assert main([*args, "--plots"]) == 0
    plots = root / "out" / "plots"
    names = sorted(p.name for p in plots.iterdir())
    assert "roc_bim_bim-hfc.png" in names and "roc_bim_closest.png" in names
    assert "layers_bim_bim-hfc.png" in names  # maha and lid have one characteristic per layer
    assert "tsne_bim_bim-hfc.png" in names and "tsne_bim_closest.png" not in names
    for path in plots.iterdir():
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"plots: {len(names)} PNG files" in capsys.readouterr().out


def test_plots_without_matplotlib_fail_before_any_work(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert main(["run", "--profile", "smoke", "--plots", "--quiet", "--out", str(tmp_path / "out")]) == 2
    assert 'pip install "hfcbench[plots]"' in capsys.readouterr().err
    assert main(["experiment", "table1", "--profile", "smoke", "--quiet", "--out", str(tmp_path / "out")]) == 2
    assert 'pip install "hfcbench[plots]"' in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def smoke_runner(smoke_run, data_dir):
    """A Runner on the smoke run's settings and cache (nothing is recomputed)."""
    from hfcbench.protocol.config import RunConfig
    from hfcbench.protocol.runner import Runner

    root, _ = smoke_run
    return Runner(RunConfig(profile="smoke", detectors="maha,lid,kd", attacks="hfc,closest", fit_attacks="bim,pgd",
                            device="cpu", quiet=True, cache_dir=str(root / "cache"), data_dir=str(data_dir)))


def test_ae_and_detector_keys_follow_every_setting_that_changes_them(smoke_runner):
    from dataclasses import replace

    run = smoke_runner
    key = run.aes_key

    def with_config(**changes):
        original = run.config
        run.config = replace(original, **changes)
        try:
            return key("bim+hfc", "advtest"), key("bim", "advtest"), run.detector_key("maha", "bim")
        finally:
            run.config = original

    hfc, bim, maha = with_config()
    assert with_config(eps=4 / 256)[0] != hfc and with_config(eps=4 / 256)[1] != bim
    assert with_config(hfc_weight=0.5)[0] != hfc and with_config(hfc_weight=0.5)[1] == bim  # BIM has no HFC
    assert with_config(gmm_components=3)[0] != hfc and with_config(steps=4)[1] != bim
    assert with_config(noisy=False)[2] != maha
    assert with_config(batch_size=7) == (hfc, bim, maha)  # batching changes no AE (tests/attacks)
    assert key("bim+hfc", "advtest", substitute="other-model") != hfc


def test_noisy_copies_match_the_aes_mean_perturbation(smoke_runner):
    from hfcbench.protocol.noise import perturbation_l2

    images, _, _ = smoke_runner.pool("advtrain")
    _, success, _ = smoke_runner.adversarial("bim", "advtrain")
    adv = smoke_runner.adversarial_images("bim", "advtrain")
    expected = perturbation_l2(images[success], adv[success]).mean().item()
    noisy = smoke_runner.noisy_features("bim")
    assert noisy.meta["noise_l2"] == pytest.approx(expected) and expected > 0
    assert len(noisy) == len(images)


def test_detectors_take_class_statistics_from_the_training_set(smoke_runner):
    """MAHA's class means are the training images' per-class means (true labels), not AdvTrain's."""
    maha = smoke_runner.fitted_detector("maha", "bim")
    train = smoke_runner.context().reference
    labels = train.labels.numpy()
    for layer, means in maha.means_.items():
        f = train.array(layer)
        expected = np.stack([f[labels == c].mean(0) for c in np.unique(labels)])
        np.testing.assert_allclose(means.numpy(), expected, rtol=1e-10)


def test_records_of_other_settings_are_kept_apart(smoke_run, tmp_path, capsys):
    root, _ = smoke_run
    records = read_records([root / "out" / "results.jsonl"])
    other = tmp_path / "other.jsonl"
    other.write_text("".join(json.dumps({**r, "params": {**r["params"], "eps": 4 / 256}}) + "\n" for r in records))
    merged = read_records([root / "out" / "results.jsonl", other])
    assert len(merged) == 2 * len(records)
    assert main(["leaderboard", str(root / "out" / "results.jsonl"), str(other)]) == 0
    text = capsys.readouterr().out
    assert "[eps=4/256]" in text and "[eps=8/256]" in text


def test_worst_case_records_are_the_per_image_minimum_over_attacks(smoke_run, smoke_runner):
    """Worked here from each attack's scores: per image the lowest successful AE over the fit
    attack and every attack evaluated against the detector; its AUC, and its evasion at the 5%-FPR
    threshold of the detector's AdvTrain clean scores."""
    from hfcbench.stats.metrics import auc

    root, _ = smoke_run
    records = {(r["fit_attack"], r["attack"], r["detector"]): r for r in read_records([root / "out" / "results.jsonl"])}
    for detector in ("maha", "lid", "kd"):
        record = records[("bim", "worst-case", detector)]
        assert record["worst_of"] == ["bim", "bim+hfc", "closest"]
        parts = {a: smoke_runner.detector_scores(detector, "bim", a) for a in record["worst_of"]}
        clean = parts["bim+hfc"]["clean"]
        worst = {}
        for scores in parts.values():
            for score, source in zip(scores["after"], scores["after_source"], strict=True):
                worst[source] = min(score, worst.get(source, np.inf))
        assert record["metrics"]["n_adv_after"] == len(worst)
        assert record["metrics"]["auc_after"] == pytest.approx(auc(clean, np.array(list(worst.values()))))
        assert sum(record["worst_by"].values()) == len(worst)
        # the thresholds come from the detector's AdvTrain clean scores, never from AdvTest's
        fitted = smoke_runner.fitted_detector(detector, "bim")
        np.testing.assert_array_equal(smoke_runner.calibration_scores(detector, "bim"),
                                      fitted.score(smoke_runner.clean_features("advtrain")))
        assert len(smoke_runner.calibration_scores(detector, "bim")) == record["metrics"]["n_calibration"]
        calibration = np.sort(smoke_runner.calibration_scores(detector, "bim"))[::-1]
        threshold = calibration[int(np.floor(0.05 * len(calibration) + 1e-9))]
        hidden = sum(score <= threshold for score in worst.values())
        assert record["metrics"]["evasion5"] == pytest.approx(hidden / len(clean))
        # no single attack evades more often than the per-image worst case over them
        for attack in ("bim+hfc", "closest"):
            assert records[("bim", attack, detector)]["metrics"]["evasion5"] <= record["metrics"]["evasion5"]
        assert records[("bim", attack, detector)]["metrics"]["evasion5_before"] <= record["metrics"]["evasion5"]
    assert records[("pgd", "worst-case", "maha")]["worst_of"] == ["pgd", "pgd+hfc"]  # the fit attack counts too


def test_detector_aware_ae_sets_are_keyed_by_the_fitted_detector(smoke_runner):
    keys = {smoke_runner.aes_key("joint", "advtest", detector=smoke_runner.detector_key(d, "bim"))
            for d in ("maha", "lid", "kd")}
    assert len(keys) == 3
    assert smoke_runner.against("maha", "bim", "pgd+orthogonal") == ("maha", "bim")
    assert smoke_runner.against("maha", "bim", "bim+hfc") is None
