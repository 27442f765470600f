"""A detector from another package: installed through its entry point, or given by --plugin."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "plugin-detector"


def _hfcbench(args, **env):
    return subprocess.run([sys.executable, "-m", "hfcbench.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=300)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The example package installed (with its entry point) into a private folder."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(EXAMPLE)], check=True, timeout=300)
    return target


def test_installed_plugin_is_listed(installed):
    result = _hfcbench(["list", "detectors"], PYTHONPATH=str(installed))
    assert result.returncode == 0, result.stderr
    assert "centroid" in result.stdout and "training centroid of the predicted class" in result.stdout


def test_plugin_option_registers_a_class():
    result = _hfcbench(["list", "detectors", "--plugin", "hfcbench_example_detector:CentroidDistance"],
                       PYTHONPATH=str(EXAMPLE))
    assert result.returncode == 0, result.stderr
    assert "centroid" in result.stdout


def test_plugin_that_is_not_a_detector_is_refused():
    result = _hfcbench(["list", "detectors", "--plugin", "json:JSONDecoder"])
    assert result.returncode == 2 and "neither a hfcbench Detector nor an Attack" in result.stderr
    assert "Traceback" not in result.stderr


def test_example_detector_passes_the_conformance_kit(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLE))
    from hfcbench_example_detector import CentroidDistance

    from hfcbench.testing import check_detector

    assert check_detector(CentroidDistance)["planted"] >= 0.9


DETECTOR_AWARE_RUN = ["run", "--profile", "smoke", "--attacks", "joint,selective,orthogonal", "--fit-attacks", "bim",
                      "--quiet", "--device", "cpu"]


def _records(path):
    from hfcbench.results import read_records

    return {(r["attack"], r["detector"]): r for r in read_records([path])}


def test_an_installed_plugin_detector_is_attacked_as_itself(installed, tmp_path, data_dir):
    out = tmp_path / "out"
    result = _hfcbench([*DETECTOR_AWARE_RUN, "--detectors", "centroid", "--out", str(out), "--cache-dir",
                        str(tmp_path / "cache"), "--data-dir", str(data_dir)], PYTHONPATH=str(installed))
    assert result.returncode == 0, result.stderr
    records = _records(out / "results.jsonl")
    for attack in ("joint", "selective", "orthogonal"):
        record = records[(attack, "centroid")]
        assert "status" not in record and record["metrics"]["n_adv_after"] > 0
        assert record["metrics"]["auc_after"] is not None and record["checks"]["trace"]
    assert ("worst-case", "centroid") in records


def test_plugin_option_detectors_are_attacked_or_marked(tmp_path, data_dir, monkeypatch, capsys):
    """--plugin: the example (with torch_score) is attacked as itself; one without torch_score
    through a surrogate (its real score, a gradient estimated from queries); one whose score is
    constant, which no surrogate can follow, is marked with the reason."""
    from hfcbench.cli import main

    (tmp_path / "nograd_detector.py").write_text(
        "import numpy as np\n"
        "from hfcbench.detectors.base import Detector\n\n"
        "class NoGradient(Detector):\n"
        "    '''Penultimate norm, numpy only (no torch_score).'''\n"
        "    name = 'nograd'\n"
        "    requires = frozenset({'penultimate'})\n"
        "    def _fit(self, clean, adv, noisy):\n"
        "        self.norm_ = np.linalg.norm(clean.array('penultimate'), axis=1).mean()\n"
        "    def characteristics(self, feats):\n"
        "        return {'norm': np.abs(np.linalg.norm(feats.array('penultimate'), axis=1) - self.norm_)}\n"
        "    def _score(self, feats):\n"
        "        return self.characteristics(feats)['norm']\n\n"
        "class Constant(NoGradient):\n"
        "    name = 'constant'\n"
        "    def _score(self, feats):\n"
        "        return np.zeros(len(feats))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(EXAMPLE))
    out = tmp_path / "out"
    assert main([*DETECTOR_AWARE_RUN, "--detectors", "centroid,nograd,constant", "--plugin",
                 "hfcbench_example_detector:CentroidDistance", "--plugin", "nograd_detector:NoGradient",
                 "--plugin", "nograd_detector:Constant", "--out", str(out), "--cache-dir", str(tmp_path / "cache"),
                 "--data-dir", str(data_dir)]) == 0
    records = _records(out / "results.jsonl")
    for attack in ("joint", "selective", "orthogonal"):
        assert records[(attack, "centroid")]["target"] == {"adaptive": "exact"}
        attacked = records[(attack, "nograd")]
        assert "status" not in attacked and attacked["metrics"]["auc_after"] is not None
        assert attacked["target"]["adaptive"] == "surrogate" and attacked["target"]["directions"] == 16
        marked = records[(attack, "constant")]
        assert marked["status"] == "not adaptively attacked" and marked["metrics"]["auc_after"] is None
        assert "one constant score" in marked["reason"] and marked["metrics"]["auc_before"] is not None
    text = capsys.readouterr().out
    assert "-> not adaptively attacked" in text and "constant (not adaptively attacked)" in text
