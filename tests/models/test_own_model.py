"""A user's own classifier: a package installed with ``pip --target`` (entry point
``hfcbench.models``), ``module:factory``, a checkpoint the test trains and saves, the layers and
head chosen, the normalisation prepended; then the whole smoke protocol on it."""

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hfcbench.cache import Cache
from hfcbench.datasets import load_dataset
from hfcbench.errors import HfcbenchError, InvalidParameterError
from hfcbench.models import zoo
from hfcbench.models.own import ModelChoice, SelectedLayers, choose_head, choose_layers
from hfcbench.models.training import TrainConfig
from hfcbench.protocol.config import RunConfig
from hfcbench.protocol.runner import Runner
from hfcbench.testing import check_torch_score

PACKAGE = "tinycnn_plugin"
FACTORY = f"{PACKAGE}:small_cnn"
HFCBENCH = str(Path(sys.executable).with_name("hfcbench"))


def _wheel(folder: Path) -> Path:
    """A wheel of tests/models/tinycnn.py as package ``tinycnn_plugin`` with the entry point
    ``small_cnn`` in the group ``hfcbench.models``, written file by file (no build backend)."""
    info = f"{PACKAGE}-0.1.dist-info"
    files = {f"{PACKAGE}/__init__.py": (Path(__file__).parent / "tinycnn.py").read_bytes(),
             f"{info}/METADATA": b"Metadata-Version: 2.1\nName: tinycnn-plugin\nVersion: 0.1\n",
             f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
             f"{info}/entry_points.txt": f"[hfcbench.models]\nsmall_cnn = {FACTORY}\n".encode()}
    record = [f"{name},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},"
              f"{len(data)}" for name, data in files.items()]
    files[f"{info}/RECORD"] = ("\n".join([*record, f"{info}/RECORD,,"]) + "\n").encode()
    path = folder / f"{PACKAGE}-0.1-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A folder the test package is installed into by ``pip install --target``; on sys.path."""
    root = tmp_path_factory.mktemp("plugin")
    target = root / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target", str(target),
                    str(_wheel(root))], check=True)
    sys.path.insert(0, str(target))
    yield target
    sys.path.remove(str(target))
    sys.modules.pop(PACKAGE, None)


@pytest.fixture(scope="module")
def data():
    return load_dataset("synthetic")


@pytest.fixture(scope="module")
def checkpoint(site, data, tmp_path_factory):
    """The user's own training (plain torch, 6 epochs of Adam) of the plugged-in CNN, saved as a state dict."""
    from tinycnn_plugin import SmallCNN

    torch.manual_seed(0)
    model = SmallCNN(1, 2)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    for _ in range(6):
        for index in torch.randperm(len(data.train), generator=generator).split(64):
            loss = F.cross_entropy(model(data.train.images[index]), data.train.labels[index])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    path = tmp_path_factory.mktemp("weights") / "small_cnn.pt"
    torch.save(model.state_dict(), path)
    return path


def hand_accuracy(path: Path, data) -> float:
    from tinycnn_plugin import SmallCNN

    model = SmallCNN(1, 2)
    model.load_state_dict(torch.load(path, weights_only=True))
    with torch.no_grad():
        return float((model.eval()(data.test.images).argmax(1) == data.test.labels).float().mean())


def cli(*args, cwd=None, env_extra=None) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([HFCBENCH, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=600)


def test_an_installed_package_is_a_model_through_its_entry_point(site, tmp_path):
    env = {"PYTHONPATH": str(site), "HFCBENCH_CACHE": str(tmp_path / "cache")}
    listed = cli("list", "models", env_extra=env)
    assert listed.returncode == 0 and "small_cnn" in listed.stdout
    layers = cli("layers", "--model", "small_cnn", "--dataset", "synthetic", env_extra=env)
    assert layers.returncode == 0, layers.stderr
    rows = {line.split()[0]: line for line in layers.stdout.splitlines() if line.split()}
    # shapes by hand: 3x3 convs with padding 1, stride 1 then 2 then 2 on 28x28
    assert "(8, 28, 28)" in rows["stem"] and "(16, 14, 14)" in rows["stage1"] and "(32, 7, 7)" in rows["stage2"]
    # stage2's channel means are the pooled penultimate vector, so it is not hooked twice
    assert rows["stem"].rstrip().endswith("hooked") and rows["stage1"].rstrip().endswith("hooked")
    assert not rows["stage2"].rstrip().endswith("hooked")
    assert "hooked (default): stem, stage1; head (the penultimate vector is its input): fc" in layers.stdout
    first = cli("train", "--model", "small_cnn", "--dataset", "synthetic", "--epochs", "1", env_extra=env)
    again = cli("train", "--model", "small_cnn", "--dataset", "synthetic", "--epochs", "1", env_extra=env)
    assert first.returncode == 0 and "trained now" in first.stdout, first.stderr
    assert again.returncode == 0 and "cached checkpoint" in again.stdout
    assert first.stdout.split("key ")[1] == again.stdout.split("key ")[1]


def test_a_checkpoint_is_used_as_it_is_and_its_hash_is_the_key(checkpoint, data, tmp_path, monkeypatch):
    monkeypatch.setattr(zoo, "train_classifier", lambda *a, **k: pytest.fail("a checkpoint must not be trained"))

    def load(path):
        return zoo.load_classifier(data, ModelChoice(FACTORY, str(path)), TrainConfig(epochs=1),
                                   cache=Cache(tmp_path / "cache"), device=torch.device("cpu"))

    trained = load(checkpoint)
    assert trained.test_accuracy == pytest.approx(hand_accuracy(checkpoint, data))
    assert trained.test_accuracy > 0.75  # the user's training worked: the checkpoint's weights are in use
    assert trained.checkpoint_sha256 == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert isinstance(trained.model, SelectedLayers) and trained.model.layers == ["stem", "stage1"]
    copy = tmp_path / "elsewhere.pt"
    shutil.copy(checkpoint, copy)
    assert load(copy).key == trained.key  # the content names the model, not the path
    state = torch.load(checkpoint, weights_only=True)
    state["fc.bias"] = state["fc.bias"] + 1
    torch.save(state, copy)
    assert load(copy).key != trained.key


def test_a_checkpoint_that_does_not_fit_names_its_first_mismatches(site, data, tmp_path):
    from tinycnn_plugin import SmallCNN

    path = tmp_path / "narrow.pt"
    torch.save(SmallCNN(1, 2, width=4).state_dict(), path)
    with pytest.raises(HfcbenchError, match=r"shape mismatches \['stem\.0\.weight: checkpoint \(4, 1, 3, 3\) vs "
                                            r"model \(8, 1, 3, 3\)'.*\(\+\d+ more\)"):
        zoo.user_model(data, ModelChoice(FACTORY, str(path)))
    state = SmallCNN(1, 2).state_dict()
    state["extra"] = state.pop("fc.bias")
    torch.save({"state_dict": state}, path)  # a dict holding one under "state_dict" is read too
    with pytest.raises(HfcbenchError, match=r"missing keys \['fc\.bias'\]; unexpected keys \['extra'\]"):
        zoo.user_model(data, ModelChoice(FACTORY, str(path)))


def test_a_checkpoint_is_read_with_weights_only(site, data, tmp_path):
    path = tmp_path / "pickled.pt"
    torch.save({"model": nn.Linear(2, 2)}, path)  # a pickled module: code would run on load
    with pytest.raises(HfcbenchError, match="is not a state dict torch can read safely"):
        zoo.user_model(data, ModelChoice(FACTORY, str(path)))
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(HfcbenchError, match="is not a state dict torch can read safely"):
        zoo.user_model(data, ModelChoice(FACTORY, str(path)))
    with pytest.raises(HfcbenchError, match="does not exist"):
        zoo.user_model(data, ModelChoice(FACTORY, str(tmp_path / "missing.pt")))


def test_layers_by_names_and_globs_and_the_head(site):
    from tinycnn_plugin import SmallCNN

    model = SmallCNN()
    assert choose_layers(model, "stage*") == ["stage1", "stage2"]
    assert choose_layers(model, "stage2.*, stem.2") == ["stem.2", "stage2.0", "stage2.1", "stage2.2"]  # model order
    with pytest.raises(InvalidParameterError, match=r"--layers 'block\*' matches no module of SmallCNN"):
        choose_layers(model, "block*")
    assert choose_head(model, None) == "fc" and choose_head(model, "fc") == "fc"
    with pytest.raises(InvalidParameterError, match=r"--head 'stem\.0' is not an nn.Linear .* \['fc'\]"):
        choose_head(model, "stem.0")


class Block(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.conv, self.relu = nn.Conv2d(width, width, 3, 1, 1), nn.ReLU()

    def forward(self, x):
        return self.relu(x + self.conv(x))


class Residual(nn.Module):
    """Residual blocks found by type; the last one is followed by global average pooling."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, 1, 1)
        self.body = nn.Sequential(Block(4), Block(4), Block(4))
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        return self.head(self.body(self.stem(x)).mean((2, 3)))


class SharedActivation(nn.Module):
    """One ReLU module run twice: its hook would see two tensors."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2, self.relu, self.fc = nn.Conv2d(1, 4, 3), nn.Conv2d(4, 4, 3), nn.ReLU(), nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(self.relu(self.conv2(self.relu(self.conv1(x)))).amax((2, 3)))


def test_default_layers_are_blocks_by_type_without_a_repeat_of_the_penultimate(data, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "make_residual", lambda: Residual(), raising=False)
    selected = zoo.user_model(data, ModelChoice(f"{__name__}:make_residual"))
    assert selected.layers == ["body.0", "body.1"] and selected.head == "head"
    explicit = zoo.user_model(data, ModelChoice(f"{__name__}:make_residual", layers="body.*"))
    assert explicit.layers == ["body.0", "body.1", "body.2"]  # what is named is kept


def test_a_shared_activation_is_refused(data, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "make_shared", lambda: SharedActivation(), raising=False)
    with pytest.raises(HfcbenchError, match=r"activation modules: relu \(none runs exactly once per forward pass\)"):
        zoo.user_model(data, ModelChoice(f"{__name__}:make_shared"))  # the default skips it, and finds nothing else
    with pytest.raises(HfcbenchError, match="layer 'relu' runs 2 times in one forward pass of SharedActivation"):
        zoo.user_model(data, ModelChoice(f"{__name__}:make_shared", layers="relu"))  # named: refused
    assert zoo.user_model(data, ModelChoice(f"{__name__}:make_shared", layers="conv2")).layers == ["conv2"]


def test_mean_and_std_prepend_the_normalisation(site, data):
    from tinycnn_plugin import SmallCNN

    inner = SmallCNN().eval()
    wrapped = SelectedLayers(inner, ["stem"], "fc", mean=(0.3,), std=(0.2,))
    x = torch.rand(4, 1, 28, 28)
    with torch.no_grad():
        assert torch.allclose(wrapped(x), inner((x - 0.3) / 0.2), atol=1e-6)
    with pytest.raises(InvalidParameterError, match=r"--mean/--std give 3 values but .* have 1 channel"):
        zoo.user_model(data, ModelChoice(FACTORY, mean=(0.5,) * 3, std=(0.2,) * 3))
    with pytest.raises(InvalidParameterError, match="--mean and --std go together"):
        RunConfig(mean=[0.5], std=None)
    with pytest.raises(InvalidParameterError, match="the zoo model resnet8 normalises inside"):
        zoo.load_classifier(data, ModelChoice("resnet8", mean=(0.5,), std=(0.2,)), TrainConfig(epochs=1),
                            cache=Cache(None, enabled=False), device=torch.device("cpu"))


def test_a_factory_that_returns_the_wrong_thing_is_named(data, monkeypatch):
    module = sys.modules[__name__]
    monkeypatch.setattr(module, "not_a_model", lambda: "resnet", raising=False)
    monkeypatch.setattr(module, "three_classes", lambda: nn.Sequential(nn.Flatten(), nn.Linear(784, 3)), raising=False)
    with pytest.raises(HfcbenchError, match="returned a str, not a torch nn.Module"):
        zoo.user_model(data, ModelChoice(f"{__name__}:not_a_model"))
    with pytest.raises(HfcbenchError, match=r"returns \(8, 3\) for 8 images; expected logits of shape \(8, 2\)"):
        zoo.user_model(data, ModelChoice(f"{__name__}:three_classes", layers="0"))


@pytest.mark.slow
def test_the_smoke_protocol_runs_on_the_plugged_in_model(checkpoint, tmp_path):
    """Every detector, Table I and II attacks, on the checkpoint; each detector's torch_score agrees
    with its score and has finite gradients on the plugged-in model's real features."""
    config = RunConfig(dataset="synthetic", model=FACTORY, checkpoint=str(checkpoint), profile="smoke",
                       detectors="all", attacks="hfc,closest", fit_attacks="bim", device="cpu", quiet=True,
                       cache_dir=str(tmp_path / "cache"), out=str(tmp_path / "out"))
    runner = Runner(config)
    records = list(runner.run(tmp_path / "results.jsonl"))
    assert {r["detector"] for r in records} == set(runner.detector_names) and len(runner.detector_names) >= 8
    assert not [r for r in records if "error" in r["metrics"]]
    digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert all(r["params"]["checkpoint_sha256"] == digest and r["params"]["hooked_layers"] == ["stem", "stage1"]
               for r in records)
    adv, success, _ = runner.adversarial("bim", "advtest")
    for name in runner.detector_names:
        detector = runner.fitted_detector(name, "bim")
        if detector.differentiable:
            feats = runner.map_features(runner.adversarial_images("bim", "advtest")[success], None) \
                if runner.needs_maps(name) else adv.subset(success.nonzero()[0])
            check_torch_score(detector, feats)


PLAIN_CNN = '''
from torch import nn


def plain(in_channels, num_classes):
    """A plain CNN: one nn.Sequential body ending in global pooling, then a linear head."""
    body = nn.Sequential(nn.Conv2d(in_channels, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, stride=2, padding=1),
                         nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    return nn.Sequential(OrderedDict(body=body, fc=nn.Linear(16, num_classes)))


def pooled(in_channels, num_classes):
    """No activation at all, and a body whose output is the penultimate vector: nothing to hook."""
    return nn.Sequential(OrderedDict(body=nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()),
                                     fc=nn.Linear(in_channels, num_classes)))


from collections import OrderedDict
'''


def test_a_plain_cnn_falls_through_to_its_activations_and_layers_lists_it(tmp_path, monkeypatch, capsys):
    """The stages rule names only ``body``, whose output is the pooled penultimate vector: the
    choice falls through to the activations, ``body.1`` and ``body.3``; ``body.3`` feeds the global
    pooling, so its channel means are the penultimate vector too, and ``body.1`` alone is hooked."""
    from hfcbench.cli import main

    (tmp_path / "plain_models.py").write_text(PLAIN_CNN)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["layers", "--dataset", "synthetic", "--model", "plain_models:plain", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "hooked (default): body.1; head (the penultimate vector is its input): fc" in out
    rows = {line.split()[0]: line for line in out.splitlines() if line.split()}
    assert rows["body.1"].rstrip().endswith("hooked") and not rows["body.3"].rstrip().endswith("hooked")
    assert main(["layers", "--dataset", "synthetic", "--model", "plain_models:pooled", "--quiet"]) == 2
    printed = capsys.readouterr()
    assert "body.0" in printed.out and "AdaptiveAvgPool2d" in printed.out  # the modules are listed all the same
    assert ("hfcbench: error: no layer would be hooked: Sequential has no layer to hook by default (residual blocks "
            "(classes named *Block or *Bottleneck): none; top-level nn.Sequential stages: body (every one repeats the "
            "penultimate vector or an earlier layer); activation modules: none)") in printed.err
