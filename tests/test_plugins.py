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
