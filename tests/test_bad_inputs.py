"""Bad input and faults, class by class: a clear one-line answer, before the work, nothing lost.

Every case asserts the exit status (0 success, 1 a pair failed, 2 usage or input error, 130
interrupted), that no Python traceback is printed, that the message names the culprit, and,
where work was done before the fault, that it was kept.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from hfcbench.cli import main
from hfcbench.results import read_records

SMOKE = ["--profile", "smoke", "--quiet", "--device", "cpu"]
SMALL = [*SMOKE, "--detectors", "maha,kd", "--attacks", "bim+hfc", "--fit-attacks", "bim"]


def fails(capsys, args, status, *needles):
    """Run ``hfcbench ARGS`` in-process: the exit status, one line naming every needle, no traceback."""
    assert main(args) == status
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    for needle in needles:
        assert needle in err, f"{needle!r} not in {err!r}"
    return err


def cli(args, *, env=None, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "hfcbench.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})}, **kwargs)


# -- 1. configuration values of the wrong type or range --------------------------------------------------------------

@pytest.mark.parametrize("toml, culprit", [
    ('steps = "8"', "--steps (steps in a config file) must be a whole number >= 1, got '8' (str)"),
    ("eps = [1, 2]", "--eps (eps in a config file) must be 'auto' or a number in (0, 1]"),
    ('seed = "a"', "--seed (seed in a config file) must be a whole number"),
    ("detectors = 5", "--detectors (detectors in a config file) must be 'all'"),
    ("hfc_weight = true", "--hfc-weight (hfc_weight in a config file) must be a finite number >= 0"),
    ('noisy = "yes"', "--no-noisy (noisy in a config file) must be true or false"),
    ("batch_size = 0", "--batch-size (batch_size in a config file) must be a whole number >= 1, got 0"),
    ("seeds = [0, 0]", "--seeds (seeds in a config file) must be a list of distinct whole numbers"),
    ('eps = "1/0"', "'1/0' is not a number or fraction"),
])
def test_config_values_of_the_wrong_type_or_range(tmp_path, capsys, toml, culprit):
    config = tmp_path / "run.toml"
    config.write_text(f'profile = "smoke"\n{toml}\n')
    fails(capsys, ["run", "--config", str(config), "--out", str(tmp_path / "out")], 2, culprit)
    assert not (tmp_path / "out").exists()  # refused before any work


@pytest.mark.parametrize("flags, culprit", [
    (["--seed", "-1"], "--seed (seed in a config file) must be a whole number in [0, 9223372036854775807], got -1"),
    (["--seed", str(2 ** 70)], f"got {2 ** 70}"),
    (["--eps", "2"], "--eps (eps in a config file) must be 'auto' or a number in (0, 1]"),
    (["--limit", "3"], "--limit (limit in a config file) must be a whole number >= 10"),
    (["--min-aes", "0"], "--min-aes (min_aes in a config file) must be a whole number >= 1"),
])
def test_flags_out_of_range(tmp_path, capsys, flags, culprit):
    fails(capsys, ["run", *SMOKE, *flags, "--out", str(tmp_path / "out")], 2, culprit)


def test_config_files_that_are_not_text_or_not_toml(tmp_path, capsys):
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00 not utf-8")
    fails(capsys, ["run", "--config", str(binary)], 2, f"--config {binary}: not UTF-8 text")
    broken = tmp_path / "broken.toml"
    broken.write_text("steps = = 8\n")
    fails(capsys, ["run", "--config", str(broken)], 2, f"--config {broken}")


# -- 2. empty or repeated selections ---------------------------------------------------------------------------------

@pytest.mark.parametrize("flags, culprit", [
    (["--attacks", ""], "--attacks (attacks in a config file) must be 'all' or a comma list"),
    (["--attacks", ","], "--attacks names no attack"),
    (["--attacks", "bim+hfc+hfc"], "attack 'bim+hfc+hfc' names 'hfc' twice"),
    (["--detectors", ""], "--detectors (detectors in a config file) must be"),
    (["--attacks", "hfx"], "Did you mean 'hfc'"),
    (["--attacks", "auto", "--auto-version", "rand"], "--auto-version (auto_version in a config file) must be "
                                                      "standard or plus"),
    (["--benign-shift", "fog"], "--benign-shift must be auto or a comma list of corruption families: pixelate"),
])
def test_empty_or_repeated_selections_are_refused(tmp_path, capsys, flags, culprit):
    fails(capsys, ["run", *SMOKE, *flags, "--out", str(tmp_path / "out")], 2, culprit)


# -- 3. output and cache locations -----------------------------------------------------------------------------------

def test_out_and_cache_that_cannot_be_written_are_refused_before_any_work(tmp_path, capsys, data_dir):
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    cache = tmp_path / "cache"
    common = [*SMALL, "--data-dir", str(data_dir), "--cache-dir", str(cache)]
    fails(capsys, ["run", *common, "--out", str(a_file)], 2, f"--out {a_file} is a file, not a folder")
    fails(capsys, ["run", *common, "--out", str(a_file / "sub")], 2, "a part of the path is a file")
    fails(capsys, ["run", *common, "--out", str(tmp_path / ("x" * 300))], 2, "a part of the path is too long")
    fails(capsys, ["run", *SMALL, "--data-dir", str(data_dir), "--out", str(tmp_path / "out"), "--cache-dir",
                   str(a_file)], 2, f"--cache-dir {a_file} is a file")
    assert not cache.exists()  # nothing was trained


def test_a_read_only_cache_is_refused_before_training(tmp_path, capsys, data_dir):
    locked = tmp_path / "locked"
    locked.mkdir()
    if os.geteuid() == 0:  # permission bits do not stop root: make the folder immutable
        if subprocess.run(["chattr", "+i", str(locked)], capture_output=True).returncode != 0:
            pytest.skip("chattr +i is not available on this file system (root ignores permission bits)")
    else:
        locked.chmod(0o500)
    try:
        fails(capsys, ["run", *SMALL, "--data-dir", str(data_dir), "--out", str(tmp_path / "out"), "--cache-dir",
                       str(locked)], 2, f"--cache-dir {locked} cannot be written")
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(locked)], check=True)
        else:
            locked.chmod(0o700)


@pytest.fixture
def tiny_disk(tmp_path):
    """A folder on a 200 KB file system (tmpfs; root only), or None where none can be mounted."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        yield None
        return
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_a_full_disk_is_one_line_and_keeps_what_was_written(tmp_path, capsys, data_dir, tiny_disk, monkeypatch):
    """The cache on a (real, where root may mount one) full disk: torch.save's short write, which it
    reports as 'unexpected pos', becomes one line; a retry on free space completes."""
    if tiny_disk is None:  # no mount: the same failure, as torch reports it, injected into torch.save
        def full(*_args, **_kwargs):
            raise RuntimeError("[enforce fail at inline_container.cc:626] . unexpected pos 262208 vs 262096")
        monkeypatch.setattr(torch, "save", full)
        cache = tmp_path / "cache"
    else:
        cache = tiny_disk / "cache"
    err = fails(capsys, ["run", *SMALL, "--data-dir", str(data_dir), "--out", str(tmp_path / "out"), "--cache-dir",
                         str(cache)], 2, "the disk is full", "while writing")
    assert "unexpected pos" not in err and len(err.strip().splitlines()) == 1
    monkeypatch.undo()
    assert main(["run", *SMALL, "--data-dir", str(data_dir), "--out", str(tmp_path / "out"), "--cache-dir",
                 str(tmp_path / "roomy")]) == 0


def test_results_on_a_full_disk_keep_every_finished_record(tmp_path, capsys, data_dir, tiny_disk):
    if tiny_disk is None:
        pytest.skip("mounting a small file system needs root")  # the cache path above covers the injected case
    out = tiny_disk / "out"
    (tiny_disk / "filler").write_bytes(b"x" * (200 * 1024 - 12 * 1024))  # leave room for a few records only
    args = ["run", *SMOKE, "--detectors", "maha,kd,lid,svm,hfc,bu", "--attacks", "hfc,closest", "--fit-attacks",
            "bim,pgd", "--data-dir", str(data_dir), "--cache-dir", str(tmp_path / "cache")]
    fails(capsys, [*args, "--out", str(out)], 2, "the disk is full", "results.jsonl")
    kept = read_records([out / "results.jsonl"])  # whatever was written is whole and readable
    assert 0 < len(kept) < 6 * 4


# -- 4. plugins that misbehave ---------------------------------------------------------------------------------------

PLUGIN_FAILS_TO_FIT = '''
import numpy as np
from hfcbench.detectors.base import Detector

class Broken(Detector):
    """Raises a plain exception in fit."""
    name = "broken"
    requires = frozenset({"penultimate"})
    def _fit(self, clean, adv, noisy):
        raise ValueError("this plugin cannot fit")
    def characteristics(self, feats):
        return {}

class Exits(Detector):
    """Fits, then calls sys.exit while scoring."""
    name = "exits"
    requires = frozenset({"penultimate"})
    def _fit(self, clean, adv, noisy):
        pass
    def characteristics(self, feats):
        return {}
    def _score(self, feats):
        import sys
        sys.exit(0)

class NaNScores(Detector):
    """Fits, then scores NaN."""
    name = "nanscore"
    requires = frozenset({"penultimate"})
    def _fit(self, clean, adv, noisy):
        pass
    def characteristics(self, feats):
        return {"x": np.full(len(feats), np.nan)}
    def _score(self, feats):
        return np.full(len(feats), np.nan)
'''


@pytest.mark.parametrize("source, culprit", [
    ("def broken(:\n", "importing module 'plugin_bad' for 'plugin_bad:Thing' failed: SyntaxError"),
    ("raise RuntimeError('no licence server')\n", "failed: RuntimeError: no licence server"),
    ("x = 1\n", "module 'plugin_bad' has no attribute 'Thing'"),
    ("import sys\nsys.exit(0)\n", "failed: SystemExit: 0 (it called sys.exit; raise an exception instead)"),
])
def test_plugin_modules_that_do_not_import_are_one_line(tmp_path, capsys, monkeypatch, source, culprit):
    (tmp_path / "plugin_bad.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "plugin_bad", raising=False)  # an earlier case's module
    fails(capsys, ["run", *SMOKE, "--plugin", "plugin_bad:Thing", "--out", str(tmp_path / "out")], 2, culprit)
    fails(capsys, ["validate", *SMOKE, "--plugin", "plugin_bad:Thing", "--out", str(tmp_path / "out")], 2, culprit)


def test_a_failing_plugin_detector_costs_only_its_own_cells(tmp_path, capsys, monkeypatch, data_dir):
    (tmp_path / "plugin_faulty.py").write_text(PLUGIN_FAILS_TO_FIT)
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "out"
    args = ["run", *SMOKE, "--detectors", "maha,broken,nanscore,exits", "--attacks", "hfc", "--fit-attacks",
            "bim,pgd", "--plugin", "plugin_faulty:Broken", "--plugin", "plugin_faulty:NaNScores", "--plugin",
            "plugin_faulty:Exits", "--data-dir", str(data_dir), "--cache-dir", str(tmp_path / "cache"), "--out",
            str(out)]
    err = fails(capsys, args, 1, "detector broken failed (ValueError: this plugin cannot fit)",
                "detector nanscore failed (detector scores hold NaN", "detector exits failed (SystemExit: 0 (it called "
                "sys.exit", "3 detector(s) failed: broken, exits, nanscore")
    assert err.count("detector broken failed") == 1  # printed once, not per cell
    records = {(r["fit_attack"], r["detector"]): r["metrics"] for r in read_records([out / "results.jsonl"])}
    assert records[("bim", "broken")]["error"] == "ValueError: this plugin cannot fit"
    assert records[("pgd", "maha")]["auc_before"] is not None and records[("bim", "maha")]["auc_after"] is not None
    assert "error" in records[("pgd", "nanscore")] and "SystemExit" in records[("pgd", "exits")]["error"]


FACTORY_RAISES = """
def raises(in_channels, num_classes):
    raise RuntimeError("weights server unreachable")

def flat(in_channels, num_classes):
    import torch
    return torch.nn.Linear(10, num_classes)  # its forward pass fails on images

def exits():
    raise SystemExit(3)
"""


@pytest.mark.parametrize("factory, culprit", [
    ("plugin_factory:raises", "--model plugin_factory:raises: its factory 'raises' raised RuntimeError: weights "
                              "server unreachable"),
    ("plugin_factory:exits", "its factory 'exits' raised SystemExit: 3 (it called sys.exit"),
    ("plugin_factory:flat", "--model plugin_factory:flat fails on inputs of shape (8, 1, 28, 28) from synthetic: "
                            "RuntimeError"),
])
def test_a_model_factory_that_raises_is_one_line(tmp_path, capsys, monkeypatch, factory, culprit):
    (tmp_path / "plugin_factory.py").write_text(FACTORY_RAISES)
    monkeypatch.syspath_prepend(str(tmp_path))
    for command in ("validate", "run", "layers"):
        extra = [*SMOKE, "--out", str(tmp_path / "out")] if command != "layers" else ["--quiet"]
        fails(capsys, [command, "--dataset", "synthetic", "--model", factory, *extra], 2, culprit)
    assert not (tmp_path / "out" / "results.jsonl").exists()


# -- 5. result files damaged or written by other tools ---------------------------------------------------------------

GOOD = {"dataset": "d", "model": "m", "seed": 0, "fit_attack": "bim", "attack": "bim+hfc", "detector": "maha",
        "metrics": {"auc_before": 0.9, "auc_after": 0.2}, "params": {}}


@pytest.mark.parametrize("content, culprit", [
    (b"[1, 2]\n", ":1 is not a hfcbench result record: a JSON list, not an object"),
    (json.dumps({k: v for k, v in GOOD.items() if k != "metrics"}).encode() + b"\n", "it has no 'metrics' object"),
    (json.dumps({**GOOD, "metrics": {"auc_after": "high"}}).encode() + b"\n",
     "metric 'auc_after' is 'high', not a number"),
    (b'{"dataset": "d", "model": "m", "seed": 0, "fit_attack": "b", "attack": "a", "detector": "x", '
     b'"metrics": {"auc_after": NaN}}\n', "NaN is not a number a record may hold"),
    (json.dumps({**GOOD, "seed": "zero"}).encode() + b"\n", "'seed' is 'zero', not a int"),
    (json.dumps({**GOOD, "metrics": {"auc_after": -7.5}}).encode() + b"\n",
     "metric 'auc_after' is -7.5, outside [0, 1]"),
    (json.dumps({**GOOD, "metrics": {"auc_after": 1e308}}).encode() + b"\n", "is 1e+308, outside [0, 1]"),
    (json.dumps(GOOD).replace('"auc_after": 0.2', '"auc_after": 1e999').encode() + b"\n",
     "metric 'auc_after' is inf, not a finite number"),
    (json.dumps({**GOOD, "metrics": {"n_clean": 1e300}}).encode() + b"\n",
     "metric 'n_clean' is 1e+300, not a count (a whole number >= 0)"),
    (json.dumps({**GOOD, "metrics": {"n_adv_after": -3}}).encode() + b"\n", "not a count"),
    (json.dumps({**GOOD, "metrics": {"auc_drop": 1.5}}).encode() + b"\n", "outside [-1, 1]"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "is not UTF-8 text"),
    (b"", "no result records in"),
])
def test_result_files_that_are_not_records(tmp_path, capsys, content, culprit):
    path = tmp_path / "results.jsonl"
    path.write_bytes(content)
    fails(capsys, ["leaderboard", str(path)], 2, culprit)
    fails(capsys, ["baseline", str(path), "-o", str(tmp_path / "b.json")], 2, culprit)


def test_a_folder_or_a_missing_file_given_as_results(tmp_path, capsys):
    fails(capsys, ["leaderboard", str(tmp_path)], 2, f"result file {tmp_path} is a folder")
    fails(capsys, ["leaderboard", str(tmp_path / "nope.jsonl")], 2, "does not exist")


def test_a_run_killed_during_a_record_write_leaves_a_file_the_next_run_repairs(tmp_path, data_dir):
    """kill -9 in the middle of writing a record (half of its bytes written); the next run cuts the
    torn line before appending, and the leaderboard reads the whole file."""
    out = tmp_path / "out"
    args = ["run", *SMALL, "--data-dir", str(data_dir), "--cache-dir", str(tmp_path / "cache"), "--out", str(out)]
    killer = (
        "import os, signal, sys\n"
        "import hfcbench.results as results\n"
        "real = results.append_record\n"
        "count = [0]\n"
        "def torn(path, record):\n"
        "    count[0] += 1\n"
        "    if count[0] < 2:\n"
        "        return real(path, record)\n"
        "    line = (results.json.dumps(record) + '\\n').encode()\n"
        "    with open(path, 'ab') as handle:\n"
        "        handle.write(line[:len(line) // 2]); handle.flush(); os.fsync(handle.fileno())\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "results.append_record = torn\n"
        "import hfcbench.protocol.runner as runner\n"
        "runner.append_record = torn\n"
        "from hfcbench.cli import main\n"
        f"sys.exit(main({args!r}))\n")
    killed = subprocess.run([sys.executable, "-c", killer], capture_output=True, text=True, timeout=600)
    assert killed.returncode == -signal.SIGKILL
    text = (out / "results.jsonl").read_text()
    assert not text.endswith("\n") and len(read_records([out / "results.jsonl"])) == 1  # one whole, one torn
    assert main(args) == 0
    records = read_records([out / "results.jsonl"])
    assert len(records) == 4 and (out / "results.jsonl").read_text().endswith("\n")  # 2 cells, 2 worst cases
    assert main(["leaderboard", str(out / "results.jsonl")]) == 0


# -- 6. cache entries that load but are wrong ------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["checkpoints", "aes", "detectors"])
def test_a_wrong_cache_entry_is_reported_moved_aside_and_recomputed(tmp_path, capsys, data_dir, kind):
    cache, out = tmp_path / "cache", tmp_path / "out"
    args = ["run", *SMALL, "--data-dir", str(data_dir), "--cache-dir", str(cache)]
    assert main([*args, "--out", str(out / "first")]) == 0
    entries = sorted((cache / kind).glob("*.p*"))
    for entry in entries:
        if kind == "detectors":  # a pickle of another object
            import pickle

            entry.write_bytes(pickle.dumps({"not": "a detector"}))
        elif kind == "checkpoints":  # a checkpoint of another architecture, as a bare state dict
            from hfcbench.models import build_model

            torch.save(build_model("resnet20", (1, 28, 28), 2, [0.5], [0.2]).state_dict(), entry)
        else:  # a tensor file of another structure
            torch.save(torch.zeros(3), entry)
    with pytest.warns(UserWarning, match="is not usable .* moved to .*bad and recomputed"):
        assert main([*args, "--out", str(out / "second")]) == 0
    assert any(entry.with_name(entry.name + ".bad").exists() for entry in entries)
    first, second = (read_records([out / n / "results.jsonl"]) for n in ("first", "second"))
    assert [r["metrics"] for r in first] == [r["metrics"] for r in second]


# -- 7. data the loaders accepted but should not ---------------------------------------------------------------------

def _npz(path, **arrays):
    base = {f"{s}_images": np.zeros((4, 28, 28), np.uint8) for s in ("train", "val", "test")}
    base.update({f"{s}_labels": np.array([[0], [1], [0], [1]]) for s in ("train", "val", "test")})
    base.update(arrays)
    np.savez(path, **base)
    return path


@pytest.mark.parametrize("arrays, culprit", [
    ({"train_labels": np.array([[0.0], [0.5], [1.0], [1.0]])}, "train_labels must be whole class numbers"),
    ({"test_images": np.zeros((0, 28, 28), np.uint8), "test_labels": np.zeros((0, 1))}, "the test split is empty"),
    ({"val_labels": np.array([[0], [1], [2], [1]])}, "val_labels outside [0, 1]"),
])
def test_npz_files_with_bad_labels_or_empty_splits(tmp_path, arrays, culprit):
    from hfcbench.datasets.medmnist import read_medmnist_npz
    from hfcbench.errors import DataError

    with pytest.raises(DataError, match=culprit.replace("[", r"\[").replace("]", r"\]")):
        read_medmnist_npz(_npz(tmp_path / "bad.npz", **arrays), 2, 2)


def _dataset(**changes):
    from hfcbench.datasets import ImageDataset, Split

    images, labels = torch.rand(20, 1, 8, 8), torch.arange(20) % 2
    parts = {"train": Split(images, labels), "test": Split(images.clone(), labels.clone())}
    parts.update(changes)
    return ImageDataset("handed-in", parts["train"], parts["test"], ("a", "b"), "fp")


@pytest.mark.parametrize("change, culprit", [
    (lambda S: {"test": S(torch.rand(20, 3, 8, 8), torch.arange(20) % 2)}, "images of shape (3, 8, 8)"),
    (lambda S: {"test": S(torch.rand(20, 1, 8, 8) * 2, torch.arange(20) % 2)}, "pixel values span [0"),
    (lambda S: {"test": S(torch.full((20, 1, 8, 8), float("nan")), torch.arange(20) % 2)}, "NaN or infinite"),
    (lambda S: {"test": S(torch.rand(0, 1, 8, 8), torch.zeros(0, dtype=torch.long))}, "test split is empty"),
    (lambda S: {"train": S(torch.rand(20, 1, 8, 8), torch.zeros(20, dtype=torch.long))}, "one class only"),
])
def test_datasets_handed_in_are_checked_whole(change, culprit):
    from hfcbench.datasets import Split
    from hfcbench.errors import DataError

    with pytest.raises(DataError, match=culprit.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        _dataset(**change(Split))


# -- 8. two runs on one cache, and Ctrl-C ----------------------------------------------------------------------------

def test_two_runs_on_one_cache_at_once_both_finish_with_the_same_numbers(tmp_path, data_dir):
    """Three runs at once on one cache, two of them on one --out: that file holds each record once."""
    cache = tmp_path / "cache"
    runs = [cli(["run", *SMALL, "--data-dir", str(data_dir), "--cache-dir", str(cache), "--out", str(tmp_path / n)])
            for n in ("a", "b", "a")]
    outputs = [run.communicate(timeout=600) for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0], outputs
    a, b = (read_records([tmp_path / n / "results.jsonl"]) for n in ("a", "b"))
    assert [r["metrics"] for r in a] == [r["metrics"] for r in b]
    lines = (tmp_path / "a" / "results.jsonl").read_text().splitlines()
    assert len(lines) == len(a)  # no record appended twice
    assert len(list((cache / "checkpoints").glob("*.pt"))) == 1 and not list(cache.rglob("*.bad"))


def test_ctrl_c_stops_with_one_line_and_the_rerun_resumes(tmp_path, data_dir):
    args = ["run", *SMOKE, "--detectors", "maha,kd,lid,svm", "--attacks", "hfc", "--data-dir", str(data_dir),
            "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "out")]
    run = cli(args)
    results = tmp_path / "out" / "results.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and run.poll() is None and not (results.exists() and results.stat().st_size):
        time.sleep(0.1)
    run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=120)
    assert run.returncode == 130 and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("hfcbench: interrupted; finished work is cached")
    done = len(read_records([results]))
    assert main(args) == 0
    assert len(read_records([results])) > done


# -- 9. a regression gate that could pass vacuously ------------------------------------------------------------------

def test_gate_inputs_that_would_compare_nothing(tmp_path, capsys):
    results = tmp_path / "results.jsonl"
    results.write_text(json.dumps(GOOD) + "\n")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    fails(capsys, ["baseline", str(empty), "-o", str(tmp_path / "b.json")], 2, "no result records")
    for content in ("not json", '{"entries": 5}', '[1]'):
        (tmp_path / "bad.json").write_text(content)
        fails(capsys, ["check", str(results), "--baseline", str(tmp_path / "bad.json")], 2,
              "is not a hfcbench baseline")
    key = '["d", "m", 0, "bim", "bim+hfc", "maha"]'
    for entries, culprit in (('[{"key": 1}]', "entry 0: 'key' is 1, not a list of the 6 values"),
                             (f'[{{"key": {key}, "settings": 3}}]', "entry 0: 'settings' must be an object"),
                             (f'[{{"key": {key}, "auc_before": "0.9"}}]',
                              "entry 0: 'auc_before' is '0.9', not a number"),
                             (f'[{{"key": {key}, "auc_before": 7.5}}]', "'auc_before' is 7.5, outside [0, 1]"),
                             (f'[{{"key": {key}, "evasion5_ci_low": -1}}]', "'evasion5_ci_low' is -1, outside [0, 1]"),
                             ('[5]', "entry 0: a JSON int, not an object")):
        (tmp_path / "bad.json").write_text(f'{{"entries": {entries}}}')
        fails(capsys, ["check", str(results), "--baseline", str(tmp_path / "bad.json")], 2,
              f"{tmp_path / 'bad.json'}: {culprit}" if culprit.startswith("entry") else culprit)
    (tmp_path / "empty.json").write_text('{"entries": []}')
    assert main(["check", str(results), "--baseline", str(tmp_path / "empty.json")]) == 1
    assert "compare nothing" in capsys.readouterr().out


@pytest.mark.parametrize("tolerance, culprit", [
    ("5", "--tolerance must be a number in [0, 1) (a change of AUC), got 5.0"),
    ("-0.1", "--tolerance must be a number in [0, 1)"),
    ("nan", "--tolerance must be a number in [0, 1)"),
    # the baseline's AUC is 0.9: no fall can exceed 0.9, so 0.95 would pass anything
    ("0.95", "--tolerance 0.95 lets every AUC pass: no AUC of this baseline can change by more than 0.9000"),
])
def test_a_tolerance_that_switches_the_gate_off_is_refused(tmp_path, capsys, tolerance, culprit):
    results = tmp_path / "results.jsonl"
    results.write_text(json.dumps({**GOOD, "metrics": {"auc_before": 0.9}}) + "\n")
    assert main(["baseline", str(results), "-o", str(tmp_path / "b.json")]) == 0
    worse = tmp_path / "worse.jsonl"
    worse.write_text(json.dumps({**GOOD, "metrics": {"auc_before": 0.0}}) + "\n")
    fails(capsys, ["check", str(worse), "--baseline", str(tmp_path / "b.json"), "--tolerance", tolerance], 2, culprit)
    assert main(["check", str(worse), "--baseline", str(tmp_path / "b.json"), "--tolerance", "0.5"]) == 1


def test_the_gate_names_the_settings_that_differ(tmp_path, capsys):
    made = tmp_path / "made.jsonl"
    made.write_text(json.dumps({**GOOD, "params": {"eps": 8 / 256}}) + "\n")
    now = tmp_path / "now.jsonl"
    now.write_text(json.dumps({**GOOD, "params": {"eps": 4 / 256}}) + "\n")
    assert main(["baseline", str(made), "-o", str(tmp_path / "b.json")]) == 0
    assert main(["check", str(now), "--baseline", str(tmp_path / "b.json")]) == 1
    assert "made under other settings: eps (baseline 0.03125, results 0.015625)" in capsys.readouterr().out


# -- 10. options that silently did nothing or damaged state ----------------------------------------------------------

def test_an_explicit_budget_is_what_runs(tmp_path, capsys, data_dir):
    assert main(["validate", *SMOKE, "--eps", "16/256", "--data-dir", str(data_dir), "--out", str(tmp_path)]) == 0
    assert "eps 16/256, alpha 4/256, 8 steps" in capsys.readouterr().out


def test_diverging_training_fails_and_caches_nothing(tmp_path, capsys, data_dir):
    cache = tmp_path / "cache"
    fails(capsys, ["train", "--dataset", "synthetic", "--model", "resnet8", "--epochs", "1", "--lr", "1e6",
                   "--quiet", "--cache-dir", str(cache)], 2, "diverged", "lower --lr", "Nothing was cached")
    assert not list(cache.rglob("*.pt"))


def test_report_refuses_to_overwrite_its_template(tmp_path, capsys):
    template = tmp_path / "T.md"
    template.write_text("# T\n")
    fails(capsys, ["report", str(template), "-o", str(template)], 2, "would overwrite the template")
    assert template.read_text() == "# T\n"


def test_dataset_names_are_normalised_so_one_dataset_never_splits(tmp_path, capsys, data_dir):
    assert main(["validate", *SMOKE, "--dataset", "  PneumoniaMNIST ", "--data-dir", str(data_dir), "--out",
                 str(tmp_path)]) == 0
    assert capsys.readouterr().out.startswith("dataset pneumoniamnist:")


# -- 11. one naming of layers ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("model", ["resnet8", "resnet20", "resnet18", "vgg16"])
def test_the_layer_names_layers_prints_are_the_ones_layers_takes_and_records_store(capsys, model):
    from hfcbench.datasets import load_dataset
    from hfcbench.models import FeatureExtractor
    from hfcbench.models.own import ModelChoice
    from hfcbench.models.zoo import user_model

    assert main(["layers", "--dataset", "synthetic", "--model", model, "--quiet"]) == 0
    out = capsys.readouterr().out
    hooked = out.split("hooked (default): ")[1].split(";")[0].split(", ")
    marked = [line.split()[0] for line in out.splitlines() if line.rstrip().endswith(" hooked")]
    assert marked == hooked and len(hooked) >= 3
    assert main(["layers", "--dataset", "synthetic", "--model", model, "--layers", ",".join(hooked), "--quiet"]) == 0
    assert f"hooked (--layers {','.join(hooked)}): {', '.join(hooked)};" in capsys.readouterr().out
    selected = user_model(load_dataset("synthetic"), ModelChoice(model))
    assert FeatureExtractor(selected.model).layer_names == [*hooked, "penultimate"]


# -- 12. sweep grids: excludes on normalised points, every point checked before any work ------------------------------

def _grid(tmp_path, text):
    path = tmp_path / "grid.toml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("exclude", [
    'eps = 0.03125',                       # the grid says "8/256"
    'eps = "8/256"\nhfc_weight = [2.0, 0.5]',  # a list: any of its values
    'dataset = " PneumoniaMNIST "\neps = 0.03125',  # names normalised as the run normalises them
])
def test_exclude_tables_compare_normalised_points(tmp_path, exclude):
    from hfcbench.protocol.config import FILE_KEYS
    from hfcbench.sweep.grid import expand, read_grid

    text = f'dataset = "pneumoniamnist"\neps = ["8/256", "4/256"]\nhfc_weight = 0.5\n[[exclude]]\n{exclude}\n'
    configs = expand(*read_grid(_grid(tmp_path, text), (*FILE_KEYS, "plugins")))
    assert [c.eps for c in configs] == [4 / 256]


def test_an_exclude_table_that_matches_nothing_is_refused(tmp_path, capsys):
    text = 'seed = [0, 1]\nprofile = "smoke"\n[[exclude]]\nseed = 7\n'
    fails(capsys, ["sweep", _grid(tmp_path, text), "--dry-run", "--out", str(tmp_path / "out")], 2,
          "[[exclude]] table 1 (seed = 7) matches no grid point")


@pytest.mark.parametrize("line, culprit", [
    ('dataset = ["synthetic", "pnuemoniamnist"]', "point 1 (pnuemoniamnist, default model, seed 0): unknown dataset "
                                                  "'pnuemoniamnist'. Did you mean 'pneumoniamnist'"),
    ('model = ["resnet8", "resnt8"]', "point 1 (pneumoniamnist, resnt8, seed 0): unknown model 'resnt8'"),
    ('dataset = ["synthetic", "imagefolder:no/such/folder"]', "imagefolder: no/such/folder is not a folder"),
    ('detectors = ["kd", "kdd"]', "unknown detector 'kdd'"),
    ('fit_attacks = ["bim", "bim,pgdd"]', "point 1 (pneumoniamnist, default model, seed 0): unknown attack 'pgdd'"),
])
def test_every_grid_point_is_checked_before_any_work(tmp_path, capsys, line, culprit):
    grid = _grid(tmp_path, f'{line}\nprofile = "smoke"\n')
    for extra in (["--dry-run"], []):
        fails(capsys, ["sweep", grid, *extra, "--out", str(tmp_path / "out")], 2, culprit)
    assert not (tmp_path / "out" / "points").exists()  # nothing was run


def test_a_large_grid_is_expanded_without_quadratic_work(tmp_path, monkeypatch):
    """4,000 points (2,000 duplicates once normalised) expand to 2,000 configs in order, without
    comparing configs pairwise (a list's ``in`` would compare each with every one kept: 2e6 times)."""
    from hfcbench.protocol.config import FILE_KEYS, RunConfig
    from hfcbench.sweep.grid import expand, read_grid

    compared = []
    equal = RunConfig.__eq__
    monkeypatch.setattr(RunConfig, "__eq__", lambda self, other: compared.append(1) or equal(self, other))
    text = f'seed = {list(range(2000))}\neps = ["8/256", 0.03125]\n'
    configs = expand(*read_grid(_grid(tmp_path, text), (*FILE_KEYS, "plugins")))
    assert [c.seed for c in configs] == list(range(2000)) and {c.eps for c in configs} == {0.03125}
    assert len(compared) <= 4000


# -- 13. image folders: colour modes, pages, odd entries, half splits, a test split too small -------------------------

def _png(path, values):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(values).save(path)


def _classes(root, n=5, size=8):
    for c, cls in enumerate(("a", "b")):
        for i in range(n):
            _png(root / cls / f"{i}.png", np.full((size, size, 3), 40 * c + i, np.uint8))


def test_cmyk_images_are_read_as_rgb_alone_or_with_rgb(tmp_path):
    from PIL import Image

    from hfcbench.datasets import load_dataset

    _classes(tmp_path)
    cyan = Image.new("CMYK", (8, 8), (255, 0, 0, 0))  # pure cyan ink: R = 255 - C - K = 0, G = B = 255
    cyan.save(tmp_path / "a" / "cyan.jpg", quality=100)
    ds = load_dataset(f"imagefolder:{tmp_path}", image_size=8)
    images = torch.cat([ds.train.images, ds.test.images])
    assert ds.image_shape == (3, 8, 8)
    cyans = [x for x in images if float(x[1].mean()) > 0.9]
    assert len(cyans) == 1 and float(cyans[0][0].max()) < 0.05 and float(cyans[0][2].min()) > 0.95
    alone = tmp_path / "alone"
    for c, cls in enumerate(("a", "b")):
        for i in range(5):
            (alone / cls).mkdir(parents=True, exist_ok=True)
            Image.new("CMYK", (8, 8), (60 * c, 10 * i, 0, 0)).save(alone / cls / f"{i}.tif")
    assert load_dataset(f"imagefolder:{alone}", image_size=8).image_shape == (3, 8, 8)  # not 4 channels


def test_a_jpeg_with_a_second_frame_is_read_as_its_first(tmp_path):
    """A phone's JPEG with a gain map opens as MPO with 2 frames: it is an image, not a page stack."""
    from PIL import Image

    from hfcbench.datasets import load_dataset

    _classes(tmp_path)
    first, second = Image.new("RGB", (8, 8), (255, 255, 255)), Image.new("RGB", (8, 8), (0, 0, 0))
    first.save(tmp_path / "a" / "phone.jpg", format="MPO", save_all=True, append_images=[second], quality=100)
    with Image.open(tmp_path / "a" / "phone.jpg") as opened:
        assert opened.n_frames == 2
    ds = load_dataset(f"imagefolder:{tmp_path}", image_size=8)
    images = torch.cat([ds.train.images, ds.test.images])
    assert sum(float(x.min()) > 0.95 for x in images) == 1  # the white first frame, not the black second


def test_a_multi_page_tiff_is_refused(tmp_path, capsys):
    from PIL import Image

    data = tmp_path / "data"
    _classes(data)
    pages = [Image.new("L", (8, 8), v) for v in (10, 200)]
    pages[0].save(data / "b" / "stack.tif", save_all=True, append_images=pages[1:])
    fails(capsys, ["validate", *SMOKE, "--dataset", f"imagefolder:{data}", "--out", str(tmp_path / "o")], 2,
          f"{data / 'b' / 'stack.tif'} holds 2 pages (a multi-page TIFF); give one image per file")


def test_odd_entries_half_splits_and_an_empty_path_are_named(tmp_path, capsys):
    data = tmp_path / "data"
    _classes(data)
    (data / "a" / "gone.png").symlink_to(tmp_path / "nowhere.png")
    fails(capsys, ["validate", *SMOKE, "--dataset", f"imagefolder:{data}", "--out", str(tmp_path / "o")], 2,
          f"{data / 'a' / 'gone.png'} is a broken or looping link")
    half = tmp_path / "half"
    _classes(half / "train")
    fails(capsys, ["validate", *SMOKE, "--dataset", f"imagefolder:{half}", "--out", str(tmp_path / "o")], 2,
          f"{half} has a train/ folder but no test/ folder; give both")
    fails(capsys, ["validate", *SMOKE, "--dataset", "imagefolder:", "--out", str(tmp_path / "o")], 2,
          "imagefolder: the path is empty")
    fails(capsys, ["validate", *SMOKE, "--layers", ",,", "--out", str(tmp_path / "o")], 2,
          "--layers (layers in a config file) must be a comma list of module names")


def test_a_test_split_too_small_for_the_protocol_is_refused_by_validate_and_before_training(tmp_path, capsys):
    _classes(tmp_path / "data" / "train", n=10)
    _classes(tmp_path / "data" / "test", n=4)  # 8 test images: fewer than the 10 the protocol keeps at least
    args = [*SMOKE, "--dataset", f"imagefolder:{tmp_path / 'data'}", "--out", str(tmp_path / "o"), "--cache-dir",
            str(tmp_path / "cache")]
    culprit = "holds 8 image(s) of 2 class(es); the protocol needs at least 10 correctly classified test images"
    fails(capsys, ["validate", *args], 2, culprit)
    fails(capsys, ["run", *args], 2, culprit)
    assert not list((tmp_path / "cache").rglob("*.pt"))  # nothing was trained


# -- 14. records with optional fields of the wrong type, names that break tables, outputs of the wrong kind ---------

@pytest.mark.parametrize("field, value, culprit", [
    ("warnings", 5, "'warnings' is 5, not a list of texts"),
    ("warnings", [1, 2], "'warnings' is [1, 2], not a list of texts"),
    ("versions", [1], "'versions' is [1], not an object of versions"),
    ("timings", "x", "'timings' is 'x', not an object of seconds"),
    ("format", "two", "'format' is 'two', not a whole number"),
    ("worst_of", 4, "'worst_of' is 4, not a list of attack names"),
    ("detector", "kd\nmaha", "'detector' is 'kd\\nmaha'; a name is one line of text"),
])
def test_optional_fields_and_names_are_checked_where_records_are_read(tmp_path, capsys, field, value, culprit):
    path = tmp_path / "results.jsonl"
    path.write_text(json.dumps({**GOOD, field: value}) + "\n")
    assert main(["baseline", str(path), "-o", str(tmp_path / "b.json")]) == 2  # no baseline of bad records
    for args in (["leaderboard", str(path)], ["leaderboard", str(path), "--html", str(tmp_path / "p.html")],
                 ["check", str(path), "--baseline", str(tmp_path / "b.json")]):
        fails(capsys, args, 2, f"{path}:1: {culprit}")


def test_a_pipe_in_a_name_stays_inside_its_markdown_cell(tmp_path):
    from hfcbench.report.leaderboard import render

    records = [{**GOOD, "detector": "my|det", "metrics": {"auc_before": 0.9, "auc_after": 0.2, "n_adv_after": 30,
                                                          "n_adv_before": 30, "adv_acc_after": 0.9}}]
    rows = [line for line in render(records, "github").splitlines() if "my" in line and line.startswith("|")]
    assert rows and all("my\\|det" in row for row in rows)
    # an unescaped pipe would add a cell: every row of a table has as many cell separators as its header
    for table in render(records, "github").split("\n\n"):
        lines = [line.replace("\\|", "") for line in table.splitlines() if line.startswith("|")]
        assert len({line.count("|") for line in lines}) <= 1


def test_a_registered_name_cannot_break_a_table_or_a_line():
    from hfcbench.errors import HfcbenchError
    from hfcbench.registry import Registry

    for bad in ("my|det", "two\nlines", "tab\there"):
        with pytest.raises(HfcbenchError, match="must be non-empty and free of"):
            Registry("detectors").add(bad, object())


def test_a_line_break_in_a_file_name_keeps_the_error_on_one_line(tmp_path, capsys):
    err = fails(capsys, ["leaderboard", str(tmp_path / "two\nlines.jsonl")], 2, "two\\nlines.jsonl does not exist")
    assert err.count("\n") == 1


def test_a_zoo_checkpoint_with_the_old_module_names_gets_a_hint(tmp_path, capsys):
    from hfcbench.models import resnet

    model = resnet.resnet8(in_channels=1, num_classes=2, dims=2, mean=[0.5], std=[0.5], image_size=28)
    old = {}
    for key, value in model.state_dict().items():
        if key.startswith("stage"):
            stage, block, rest = key.split(".", 2)
            key = f"stages.{int(stage[5:]) - 1}.{block[5:]}.{rest}"
        old[key] = value
    torch.save(old, tmp_path / "old.pt")
    fails(capsys, ["validate", *SMOKE, "--dataset", "synthetic", "--model", "resnet8", "--checkpoint",
                   str(tmp_path / "old.pt"), "--out", str(tmp_path / "o")], 2,
          "rename its keys stages.I.J. -> stage<I+1>.block<J>.")


def test_outputs_of_the_wrong_kind_and_options_outside_the_schema(tmp_path, capsys):
    path = tmp_path / "results.jsonl"
    path.write_text(json.dumps(GOOD) + "\n")
    fails(capsys, ["leaderboard", str(path), "--html", str(tmp_path)], 2, f"--html {tmp_path} is a folder")
    fails(capsys, ["baseline", str(path), "-o", str(tmp_path)], 2, f"-o {tmp_path} is a folder")
    (tmp_path / "T.md").write_text("# T\n")
    fails(capsys, ["report", str(tmp_path / "T.md"), "-o", str(tmp_path)], 2, f"-o {tmp_path} is a folder")
    fails(capsys, ["baseline", str(path), "-o", str(path / "b.json")], 2, f"{path} is a file, not a folder")
    fails(capsys, ["leaderboard", str(path), "--min-aes", "0"], 2, "--min-aes (min_aes in a config file) must be a "
                                                                   "whole number >= 1, got 0")
    (tmp_path / "grid.toml").write_text('seed = [0]\nprofile = "smoke"\n')
    fails(capsys, ["sweep", str(tmp_path / "grid.toml"), "--dry-run", "--min-aes", "-3"], 2, "--min-aes")


def test_files_written_atomically_follow_the_umask(tmp_path, capsys):
    path = tmp_path / "results.jsonl"
    path.write_text(json.dumps(GOOD) + "\n")
    old = os.umask(0o022)
    try:
        assert main(["leaderboard", str(path), "--html", str(tmp_path / "page.html")]) == 0
        assert main(["baseline", str(path), "-o", str(tmp_path / "b.json")]) == 0
    finally:
        os.umask(old)
    for name in ("page.html", "b.json"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644  # 0o666 & ~0o022, not mkstemp's 0o600
