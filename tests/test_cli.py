"""The command line, run in-process through ``hfcbench.cli.main``."""

import pytest

from hfcbench.cli import main


def test_list_datasets(capsys):
    assert main(["list", "datasets"]) == 0
    out = capsys.readouterr().out
    for name in ("pneumoniamnist", "retinamnist", "adrenalmnist3d", "cifar10", "synthetic"):
        assert name in out
    assert "Chest X-ray" in out


def test_unknown_dataset_is_one_clear_line(capsys):
    assert main(["train", "--dataset", "pneumonia", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hfcbench: error: unknown dataset 'pneumonia'. Did you mean 'pneumoniamnist'")
    assert "Traceback" not in err


def test_bad_device_is_one_clear_line(capsys):
    assert main(["train", "--dataset", "synthetic", "--device", "tpu", "--quiet"]) == 2
    assert "--device 'tpu'" in capsys.readouterr().err


def test_train_reports_accuracy_and_reuses_cache(capsys, tmp_path):
    args = ["train", "--dataset", "synthetic", "--model", "resnet8", "--epochs", "1", "--cache-dir",
            str(tmp_path), "--device", "cpu", "--quiet"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert "resnet8 on synthetic: test accuracy" in first and "trained now" in first
    assert main(args) == 0
    assert "cached checkpoint" in capsys.readouterr().out


def test_bad_epochs(capsys):
    assert main(["train", "--dataset", "synthetic", "--epochs", "0", "--quiet"]) == 2
    assert "--epochs must be a whole number >= 1, got 0" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["models", "detectors", "attacks", "experiments"])
def test_list_other_kinds(kind, capsys):
    from hfcbench.cli import _registry

    assert main(["list", kind]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in _registry(kind).names()) and "cannot load" not in out
