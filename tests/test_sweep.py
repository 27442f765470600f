"""``hfcbench sweep``: grid files, the task graph, the local executor against ``hfcbench run``, Ray
with two workers (one of them killed mid-sweep) against local, and an interrupted sweep resumed."""

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hfcbench.errors import HfcbenchError, InvalidParameterError
from hfcbench.protocol.config import FILE_KEYS, RunConfig
from hfcbench.protocol.runner import Runner
from hfcbench.sweep import located, run_sweep
from hfcbench.sweep.grid import expand, read_grid
from hfcbench.sweep.plan import AUTO_SHARED, needed, plan
from tests.conftest import require

HFCBENCH = str(Path(sys.executable).with_name("hfcbench"))
ALLOWED = (*FILE_KEYS, "plugins")
# 2 datasets x 2 seeds on the smoke profile (6 epochs: 2 leave breastmnist's classifier on one class)
GRID = """
dataset = ["synthetic", "breastmnist"]
seed = [0, 1]
profile = "smoke"
epochs = 6
detectors = "kd,maha,lid"
attacks = "hfc,closest"
fit_attacks = "bim"
"""


def grid_file(tmp_path, text=GRID, name="grid.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def comparable(path: Path) -> list[dict]:
    """The records of a results file without their timings (the only field that may differ)."""
    out = []
    for line in path.read_text().splitlines():
        record = json.loads(line)
        record.pop("timings")
        out.append(record)
    return out


def test_a_grid_is_the_product_of_its_lists_minus_the_excluded_points(tmp_path):
    axes, excludes = read_grid(grid_file(tmp_path, """
dataset = ["synthetic", "pneumoniamnist"]
hfc_weight = [0.5, 1.0, 2.0]
mean = [0.5]            # a list-valued option: one value, not a grid axis
std = [[0.2], [0.3]]    # a list of lists: an axis
[[exclude]]
dataset = "pneumoniamnist"
hfc_weight = 2.0
"""), ALLOWED)
    configs = expand(axes, excludes)
    points = [(c.dataset, c.hfc_weight, c.std) for c in configs]
    expected = [(d, w, s) for d in ("synthetic", "pneumoniamnist") for w in (0.5, 1.0, 2.0) for s in ([0.2], [0.3])
                if not (d == "pneumoniamnist" and w == 2.0)]
    assert points == expected and all(c.mean == [0.5] for c in configs)


@pytest.mark.parametrize("text, message", [
    ("seeds = [0, 1]", "seeds is not a grid option; give seed = \\[0, 1, 2\\]"),
    ("sead = [0, 1]", "unknown options \\['sead'\\]"),
    ("steps = [8, 0]", "point \\(steps=0\\): --steps \\(steps in a config file\\) must be a whole number >= 1"),
    ("seed = []", "seed is an empty list"),
    ("seed = [0]\n[[exclude]]\nseed = 0", "every point is excluded"),
    ("seed = [0\n", "grid file .*grid.toml: "),
])
def test_bad_grids_are_named(tmp_path, text, message):
    with pytest.raises(HfcbenchError, match=message):
        expand(*read_grid(grid_file(tmp_path, text), ALLOWED))


def test_the_task_graph_shares_work_between_points():
    """2 seeds x 2 HFC weights, 2 detectors, hfc with BIM: per seed 1 classifier, BIM on both pools
    and BIM+HFC per weight (4 AE sets), 2 fits; 4 record sets. By hand: 2 + 8 + 4 + 4 = 18 tasks."""
    configs = [RunConfig(dataset="synthetic", profile="smoke", seed=s, hfc_weight=w, detectors="kd,maha",
                         attacks="hfc", fit_attacks="bim") for s in (0, 1) for w in (0.5, 1.0)]
    tasks = plan(configs)
    kinds = [t.kind for t in tasks]
    assert (kinds.count("classifier"), kinds.count("aes"), kinds.count("fit"), kinds.count("records")) == (2, 8, 4, 4)
    position = {t.id: i for i, t in enumerate(tasks)}
    assert all(position[d] < position[t.id] for t in tasks for d in t.deps)  # dependencies first
    fits = [t for t in tasks if t.kind == "fit"]
    assert all(len(t.deps) == 1 and "bim on advtrain" in t.deps[0] for t in fits)
    first = needed(tasks, {0})
    assert [t.kind for t in first].count("records") == 1 and len(first) == 1 + 1 + 3 + 2


def test_auto_shares_its_detector_free_arms_and_keys_its_own_options():
    """3 detectors attacked by auto at two --auto-steps: one shared arm set per auto setting (2),
    a dependency of all 3 aware tasks of that setting; BIM on both pools (2): 4 AE sets; 6 aware
    tasks (the auto options are part of their ids: two settings never collapse into one)."""
    configs = [RunConfig(dataset="synthetic", profile="smoke", detectors="kd,maha,lid", attacks="auto",
                         fit_attacks="bim", auto_steps=steps) for steps in (8, 16)]
    tasks = plan(configs)
    kinds = [t.kind for t in tasks]
    assert (kinds.count("aes"), kinds.count("aware")) == (4, 6)
    shared = [t for t in tasks if t.kind == "aes" and t.args[0] == AUTO_SHARED]
    assert len(shared) == 2
    for task in (t for t in tasks if t.kind == "aware"):
        assert sum(d in {s.id for s in shared} for d in task.deps) == 1


def test_a_cluster_needs_an_absolute_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("HFCBENCH_CACHE")
    with pytest.raises(InvalidParameterError, match="on a cluster give the cache folder"):
        located(RunConfig(), remote=True)
    with pytest.raises(InvalidParameterError, match="'relative/cache' is relative"):
        located(RunConfig(cache_dir="relative/cache"), remote=True)
    local = located(RunConfig(cache_dir="relative/cache", dataset="imagefolder:scans"), remote=False)
    assert Path(local.cache_dir).is_absolute() and Path(local.dataset.split(":", 1)[1]).is_absolute()


def test_executor_options_are_checked(tmp_path, monkeypatch):
    grid = grid_file(tmp_path)
    with pytest.raises(InvalidParameterError, match="--address names a Ray cluster"):
        run_sweep(str(grid), out=str(tmp_path / "out"), address="ray://head:10001")
    with pytest.raises(InvalidParameterError, match="--workers must be a whole number >= 1"):
        run_sweep(str(grid), out=str(tmp_path / "out"), executor="ray", workers=0)
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(HfcbenchError, match='--executor ray needs Ray: pip install "hfcbench\\[ray\\]"'):
        run_sweep(str(grid), out=str(tmp_path / "out"), executor="ray", progress=False)


def test_dry_run_prints_the_graph(tmp_path, capsys):
    assert run_sweep(str(grid_file(tmp_path)), out=str(tmp_path / "out"), dry_run=True) == 0
    text = capsys.readouterr().out
    assert "4 grid point(s) -> 36 tasks" in text and "classifiers             4" in text
    assert not (tmp_path / "out").exists()


def test_dry_run_lists_a_big_graph_in_bounded_lines():
    from hfcbench.sweep.plan import SHOWN_TASKS, describe

    configs = [RunConfig(dataset="synthetic", profile="smoke", seed=s, detectors="kd,maha", attacks="hfc",
                         fit_attacks="bim") for s in range(60)]
    tasks = plan(configs)
    lines = describe(tasks, 60).splitlines()
    listed = lines[lines.index("tasks (#: kind label <- the tasks it needs):") + 1:]
    # 60 points x (a classifier, 3 AE sets, 2 fits, a record set)
    assert len(tasks) == 420 > SHOWN_TASKS and len(listed) == SHOWN_TASKS + 1
    assert lines[-1] == f"  ... and {len(tasks) - SHOWN_TASKS} more tasks of the kinds counted above"


@pytest.mark.slow
def test_local_sweep_gives_the_records_of_hfcbench_run(tmp_path, monkeypatch):
    """... with the cache folder of --cache-dir, which wins over the grid's cache_dir."""
    grid = grid_file(tmp_path, 'dataset = "synthetic"\nprofile = "smoke"\ndetectors = "kd,maha"\nattacks = "hfc"\n'
                               f'fit_attacks = "bim,pgd"\ncache_dir = "{tmp_path / "grid-cache"}"\n')
    assert run_sweep(str(grid), out=str(tmp_path / "sweep"), progress=False, cache_dir=str(tmp_path / "cache")) == 0
    assert list((tmp_path / "cache").rglob("*.pt")) and not (tmp_path / "grid-cache").exists()
    config = RunConfig(dataset="synthetic", profile="smoke", detectors="kd,maha", attacks="hfc", fit_attacks="bim,pgd",
                       quiet=True, cache_dir=str(tmp_path / "other-cache"))
    list(Runner(config).run(tmp_path / "run.jsonl"))
    assert comparable(tmp_path / "sweep" / "results.jsonl") == comparable(tmp_path / "run.jsonl")
    assert (tmp_path / "sweep" / "leaderboard.html").exists()


def ray_workers() -> list[int]:
    """PIDs of Ray worker processes running a sweep task (their title is the task's name)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "cmdline").read_bytes().startswith(b"ray::hfcbench "):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.mark.slow
def test_ray_with_two_workers_one_killed_gives_the_local_records(tmp_path):
    require(importlib.util.find_spec("ray") is not None, 'Ray is not installed (pip install "hfcbench[ray]"); the '
                                                          "Ray executor's tests need it")
    grid = grid_file(tmp_path)
    env = {**os.environ, "HFCBENCH_DATA": os.environ.get("HFCBENCH_DATA", "")}
    local = subprocess.run([HFCBENCH, "sweep", str(grid), "--out", str(tmp_path / "local"), "--quiet"],
                           env={**env, "HFCBENCH_CACHE": str(tmp_path / "cache-local")}, capture_output=True,
                           text=True, timeout=900)
    assert local.returncode == 0, local.stderr[-2000:]
    sweep = subprocess.Popen([HFCBENCH, "sweep", str(grid), "--out", str(tmp_path / "ray"), "--executor", "ray",
                              "--workers", "2", "--quiet"], env={**env, "HFCBENCH_CACHE": str(tmp_path / "cache-ray")},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed = None
    deadline = time.monotonic() + 300
    while killed is None and sweep.poll() is None and time.monotonic() < deadline:
        busy = ray_workers()
        if busy:
            time.sleep(1.0)  # let it get into its task
            for pid in busy:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed = pid
                    break
                except ProcessLookupError:
                    continue
        time.sleep(0.2)
    out, err = sweep.communicate(timeout=900)
    assert killed is not None, "no Ray worker was seen running a task"
    assert sweep.returncode == 0, err[-3000:]
    assert comparable(tmp_path / "ray" / "results.jsonl") == comparable(tmp_path / "local" / "results.jsonl")
    assert len(comparable(tmp_path / "local" / "results.jsonl")) == 4 * 3 * 3  # points x detectors x (2 + worst)


@pytest.mark.slow
def test_an_interrupted_sweep_resumes_from_its_finished_points(tmp_path):
    grid = grid_file(tmp_path, GRID.replace('["synthetic", "breastmnist"]', '"synthetic"'))
    env = {**os.environ, "HFCBENCH_CACHE": str(tmp_path / "cache")}
    command = [HFCBENCH, "sweep", str(grid), "--out", str(tmp_path / "out"), "--quiet"]
    sweep = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    points = tmp_path / "out" / "points"
    deadline = time.monotonic() + 300
    while not (points.exists() and any(points.iterdir())) and time.monotonic() < deadline:
        time.sleep(0.1)
    sweep.send_signal(signal.SIGINT)
    _, err = sweep.communicate(timeout=300)
    assert sweep.returncode == 130 and "interrupted" in err
    assert len(list(points.iterdir())) == 1
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0 and "resuming: 1 of 2 grid points have their records" in again.stdout
    whole = subprocess.run([HFCBENCH, "sweep", str(grid), "--out", str(tmp_path / "whole"), "--quiet"],
                           env={**env, "HFCBENCH_CACHE": str(tmp_path / "cache-whole")}, capture_output=True,
                           text=True, timeout=900)
    assert whole.returncode == 0
    assert comparable(tmp_path / "out" / "results.jsonl") == comparable(tmp_path / "whole" / "results.jsonl")
