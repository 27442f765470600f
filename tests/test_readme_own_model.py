"""The README's "Benchmark your own model": its three commands, run as written, on a folder of
tiny DICOMs (written by pydicom) and a checkpoint of a CNN this test trains and saves."""

import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hfcbench.datasets import load_dataset
from tests.files import write_dicom

README = Path(__file__).parents[1] / "README.md"
HFCBENCH = str(Path(sys.executable).with_name("hfcbench"))


def readme_commands() -> list[str]:
    """The ``hfcbench`` lines of the first bash block of the section."""
    section = README.read_text().split("## Benchmark your own model", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "the section has no bash block"
    return [line for line in block.group(1).splitlines() if line.startswith("hfcbench ")]


def write_scans(root: Path, n: int = 100) -> None:
    """CT-like 32x32 slices, lung (-700 HU) with noise; class ``nodule`` adds a soft-tissue disc
    (+40 HU). Stored values s with HU = 2 s - 1024."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:32, :32]
    for cls in ("normal", "nodule"):
        for i in range(n):
            hu = -700 + 60 * rng.normal(size=(32, 32))
            if cls == "nodule":
                cy, cx, r = rng.integers(8, 24), rng.integers(8, 24), rng.integers(3, 6)
                hu[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = 40 + 20 * rng.normal()
            write_dicom(root / cls / f"{i:03d}.dcm", np.clip((hu + 1024) / 2, 0, 4095).astype(np.uint16),
                        slope=2, intercept=-1024)


@pytest.mark.slow
def test_the_readme_commands_benchmark_a_checkpoint_on_dicoms(tmp_path):
    commands = readme_commands()
    assert [shlex.split(c)[1] for c in commands] == ["layers", "validate", "run"]
    write_scans(tmp_path / "scans")
    (tmp_path / "mymodels.py").write_text((Path(__file__).parent / "models" / "tinycnn.py").read_text())
    # the user's own training, outside hfcbench, on the images as hfcbench reads them
    data = load_dataset(f"imagefolder:{tmp_path / 'scans'}", image_size=32, window="-1000,400")
    sys.path.insert(0, str(tmp_path))
    try:
        from mymodels import small_cnn
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("mymodels", None)
    torch.manual_seed(0)
    model = small_cnn(1, 2)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(20):  # batch norm's running statistics need about 15 epochs of 5 steps
        for index in torch.randperm(len(data.train)).split(32):
            loss = F.cross_entropy(model(data.train.images[index]), data.train.labels[index])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    torch.save(model.state_dict(), tmp_path / "small_cnn.pt")

    env = {**os.environ, "HFCBENCH_CACHE": str(tmp_path / "cache")}
    outputs = []
    for command in commands:
        done = subprocess.run([HFCBENCH, *shlex.split(command)[1:]], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=900)
        assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        outputs.append(done.stdout)
    # the run announces its stages in order and times them; its tables fit a 120-column terminal
    stages = [line for line in done.stderr.splitlines() if line.startswith("stage ") and line[6].isdigit()]
    assert [s.split(":")[0] for s in stages] == [f"stage {i} of 4" for i in range(1, 5)]
    assert "stage 3 of 4: craft AEs, fit and score" in done.stderr and "stage times: load imagefolder:" in done.stderr
    assert max(len(line) for line in done.stdout.splitlines() if not line.startswith("results:")) <= 120
    layers, validated, ran = outputs
    assert "hooked (default): stem, stage1; head (the penultimate vector is its input): fc" in layers
    assert "configuration OK" in validated and "80/20 stratified split" in validated
    assert "hooked: stem, stage1; head fc; checkpoint small_cnn.pt" in validated
    records = [json.loads(line) for line in (tmp_path / "my-results" / "results.jsonl").read_text().splitlines()]
    assert len({r["detector"] for r in records}) >= 8 and not [r for r in records if "error" in r["metrics"]]
    digest = hashlib.sha256((tmp_path / "small_cnn.pt").read_bytes()).hexdigest()
    assert {r["params"]["checkpoint_sha256"] for r in records} == {digest}
    assert all(r["params"]["test_accuracy"] == pytest.approx(accuracy(model, data)) for r in records)
    assert "ranking" in ran.lower() and "results: my-results/results.jsonl" in ran
    assert not (tmp_path / "cache" / "checkpoints").exists() or not any((tmp_path / "cache" / "checkpoints").iterdir())


def accuracy(model, data) -> float:
    with torch.no_grad():
        return float((model.eval()(data.test.images).argmax(1) == data.test.labels).float().mean())
