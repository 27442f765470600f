"""Every experiment end to end on the smoke profile with real data, checked against properties
that hold whatever the numbers (ranges, orderings, the paper's table layouts)."""

import json
import re
from pathlib import Path

import pytest

from hfcbench.cli import main
from hfcbench.experiments import EXPERIMENTS, ORDER

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def smoke_all(tmp_path_factory, data_dir):
    root = tmp_path_factory.mktemp("experiments")
    out = root / "out"
    args = ["experiment", "all", "--profile", "smoke", "--quiet", "--out", str(out), "--cache-dir",
            str(root / "cache"), "--data-dir", str(data_dir), "--device", "cpu"]
    assert main(args) == 0
    return out


def _records(out, name):
    return [json.loads(line) for line in (out / f"{name}.jsonl").read_text().splitlines()]


def _table(markdown: str, caption_start: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the Markdown table under the caption starting with ``caption_start``."""
    block = markdown.split(f"**{caption_start}", 1)[1].split("\n\n", 2)[1]
    lines = [line for line in block.splitlines() if line.startswith("|")]
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    return cells[0], cells[2:]


def _check_auc_cell(cell: str) -> None:
    """``n/a``, ``n<20 (n=3)`` (the min-AE rule) or ``77.7 [61.2, 91.0]``: a percentage inside its
    interval; a leaderboard AUC may be marked `` inv``, only where its whole interval lies below 50."""
    if cell == "n/a" or re.fullmatch(r"n<\d+ \(n=\d+\)", cell):
        return
    match = re.fullmatch(r"(\d+\.\d) \[(\d+\.\d), (\d+\.\d)\]( inv)?", cell)
    assert match, cell
    value, low, high = map(float, match.groups()[:3])
    assert 0 <= low <= value <= high <= 100, cell
    assert match.group(4) is None or high <= 50.0, cell


def test_every_experiment_writes_markdown_records_and_figures(smoke_all):
    assert sorted(ORDER) == sorted(EXPERIMENTS.names())
    for name in ORDER:
        markdown = (smoke_all / f"{name}.md").read_text()
        assert markdown.startswith("### ") and f"`hfcbench experiment {name} --profile smoke`" in markdown
        assert _records(smoke_all, name), name
        for figure in re.findall(r"\]\((figures/[^)]+)\)", markdown):
            assert (smoke_all / figure).read_bytes()[:4] == b"\x89PNG"


def test_table1_and_table2_follow_the_paper_layout(smoke_all):
    header, rows = _table((smoke_all / "table2.md").read_text(), "hfcbench")
    assert header[0] == "attack" and header[-2:] == ["Adv. Acc", "n AEs"] and "maha" in header
    assert [r[0] for r in rows] == ["bim (before)", "bim+hfc", "random", "closest", "kde", "lid"]
    for row in rows:
        for cell in row[1:-2]:
            _check_auc_cell(cell)
        assert row[-2] == "n/a" or 0 <= float(row[-2]) <= 100  # Adv. Acc
    table1 = _records(smoke_all, "table1")
    # each base attack with its HFC version, and each fitted detector's per-image worst case over the two
    assert {r["attack"] for r in table1} == {f"{b}+hfc" for b in ("bim", "pgd", "mim", "tim", "cw")} | {"worst-case"}
    assert {tuple(r["worst_of"]) for r in table1 if r["attack"] == "worst-case"} == \
        {(b, f"{b}+hfc") for b in ("bim", "pgd", "mim", "tim", "cw")}
    assert "the paper, Chest X-ray" in (smoke_all / "table1.md").read_text()


def test_sweeps_cover_their_grids(smoke_all):
    assert {r["gmm_components"] for r in _records(smoke_all, "gmm-sweep")} == {1, 2}
    assert {round(256 * r["eps"]) for r in _records(smoke_all, "eps-sweep")} == {4, 8}
    header, rows = _table((smoke_all / "gmm-sweep.md").read_text(), "hfcbench")
    assert header == ["detector", "M=1", "M=2"]
    assert [r[0] for r in rows[-4:]] == ["Average", "Maximum", "Adv. Acc", "n AEs"]
    for row in rows[:-4]:
        for cell in row[1:]:
            _check_auc_cell(cell)


def test_hfc_weight_zero_is_plain_bim(smoke_all):
    by_weight = {}
    for r in _records(smoke_all, "weight-sweep"):
        by_weight.setdefault(r["hfc_weight"], []).append(r)
    assert set(by_weight) == {0, 1}
    for r in by_weight[0]:  # w = 0 adds nothing to BIM's loss: the same AEs, so the same AUCs
        assert r["metrics"]["auc_after"] == r["metrics"]["auc_before"], r["detector"]
        assert r["metrics"]["adv_acc_after"] == r["metrics"]["adv_acc_before"]
    header, rows = _table((smoke_all / "weight-sweep.md").read_text(), "hfcbench")
    assert header == ["detector", "BIM", "w=0", "w=1"] and [r[0] for r in rows[-2:]] == ["Adv. Acc", "n AEs"]


def test_stress_moves_each_block_the_way_it_was_pushed(smoke_all):
    records = _records(smoke_all, "stress")
    assert {r["dataset"] for r in records} == {"pneumoniamnist", "cifar10"}
    for r in records:  # maximising a block's mean can never end below minimising it
        assert r["ratio_up"]["value"] >= r["ratio_down"]["value"] - 1e-6, r
        for ratio in (r["ratio_up"], r["ratio_down"]):
            assert ratio["value_ci_low"] <= ratio["value"] <= ratio["value_ci_high"]
        assert r["params"]["dataset"] == r["dataset"] and r["params"]["eps"] == pytest.approx(1 / 256)
    assert sum(r["ratio_up"]["value"] > 1 > r["ratio_down"]["value"] for r in records) >= 0.8 * len(records)


def test_gradient_consistency_is_a_cosine_table(smoke_all):
    (record,) = _records(smoke_all, "gradient-consistency")
    for attack, row in record["attack_cosines"].items():
        assert row[attack]["value"] == pytest.approx(1.0)  # and so is every replicate
        assert row[attack]["value_ci_low"] == pytest.approx(1.0) == row[attack]["value_ci_high"]
        for v in row.values():
            assert -1 - 1e-9 <= v["value_ci_low"] <= v["value"] <= v["value_ci_high"] <= 1 + 1e-9
    assert abs(record["chance"]["value"]) < 0.5 and "weight_cosines" in record  # pneumoniamnist is binary
    assert record["params"]["dataset"] == "pneumoniamnist" and record["params"]["profile"] == "smoke"


def test_ood_semi_white_box_and_3d(smoke_all):
    for r in _records(smoke_all, "ood-lesions"):
        assert 0 <= r["false_prediction_rate"] <= 1 and (r["auc"] is None or 0 <= r["auc"] <= 1)
        assert r["n_lesioned"] > 0
    assert [r["attack"] for r in _records(smoke_all, "semi-white-box")] == ["bim", "bim+hfc"]
    dims = {r["dataset"]: r for r in _records(smoke_all, "3d-vs-2d")}
    assert set(dims) == {"adrenalmnist3d", "adrenalmnist3d-down2", "pneumoniamnist"}
    assert dims["adrenalmnist3d"]["input_dims"] == 8 * dims["adrenalmnist3d-down2"]["input_dims"] == 28 ** 3
    for r in dims.values():
        rates = list(r["success"].values())
        assert rates[-1] >= rates[0]  # a larger budget never helps the classifier here
        for budget, rate in r["success"].items():
            low, high = r["success_ci"][budget]
            assert low <= rate <= high and round(rate * r["n"]) == pytest.approx(rate * r["n"])
        assert r["params"]["eps"] == pytest.approx(1 / 256)


def test_every_auc_of_the_one_seed_experiments_carries_its_interval(smoke_all):
    """Per-layer, transferred, natural-image and lesion AUCs: an interval or the min-AE mark, never a bare number."""
    def column(name, caption, first, last):
        header, rows = _table((smoke_all / f"{name}.md").read_text(), caption)
        return [cell for row in rows for cell in row[first:last or None]], header

    layer_cells, header = column("layers", "hfcbench, one seed: each layer", 2, 0)
    assert header[:2] == ["#", "layer"] and "maha" in header
    for cell in layer_cells:
        if " AEs" in cell or re.fullmatch(r"\d+ -> \d+", cell):
            continue  # the n AEs row
        for part in cell.split(" -> "):
            _check_auc_cell(part)
    for name, caption, first in (("semi-white-box", "hfcbench: victim", 1), ("natural-vs-medical", "hfcbench: AUC", 3),
                                 ("ood-lesions", "AUC (%) and FR", 2)):
        cells, header = column(name, caption, first, -2 if name != "ood-lesions" else first + 1)
        assert cells, name
        for cell in cells:
            _check_auc_cell(cell)
    for r in _records(smoke_all, "ood-lesions"):
        if r["auc"] is not None:
            assert r["auc_ci_low"] <= r["auc"] <= r["auc_ci_high"]


def test_records_of_one_seed_experiments_carry_their_run_settings(smoke_all):
    """Every record names the settings it was made under (``params``), as a leaderboard record does."""
    table1 = _records(smoke_all, "table1")[0]["params"]
    for name in ("layers", "tsne", "gradient-consistency", "semi-white-box", "ood-lesions"):
        for r in _records(smoke_all, name):
            params = r["params"]
            assert params["checkpoint_sha256"] == table1["checkpoint_sha256"], name  # the first seed's classifier
            assert params["adv_test"] == table1["adv_test"] and params["profile"] == "smoke", name
    substitute = _records(smoke_all, "semi-white-box")[0]["substitute"]
    assert substitute["seed"] == table1["seed"] + 1 and 0 <= substitute["test_accuracy"] <= 1
    assert re.fullmatch(r"[0-9a-f]{24}", substitute["checkpoint_key"])  # the cache key of its own training
    for r in _records(smoke_all, "tsne"):
        distance = r["nearest_clean_distance"]
        assert 0 < distance["n"] <= r["n"]
        assert distance["value_ci_low"] <= distance["value"] <= distance["value_ci_high"]


def test_committed_report_has_the_structure_regenerated_here(smoke_all):
    """docs/results/*/table2.md was made by the same code on the quick profile: same layout."""
    header, rows = _table((smoke_all / "table2.md").read_text(), "hfcbench")
    committed = sorted((REPO / "docs" / "results").glob("*/table2.md"))
    assert committed, "docs/results holds no table2 report"
    for path in committed:
        their_header, their_rows = _table(path.read_text(), "hfcbench")
        assert their_header == header and [r[0] for r in their_rows] == [r[0] for r in rows]


def test_report_fills_includes_and_relinks_figures(tmp_path, capsys):
    (tmp_path / "results" / "x").mkdir(parents=True)
    (tmp_path / "results" / "x" / "t.md").write_text("### T\n\n![t](figures/a.png)\n")
    template = tmp_path / "RESULTS.template.md"
    template.write_text("# R\n\nprose\n<!-- include: results/x/t.md -->\nmore prose\n")
    output = tmp_path / "out" / "RESULTS.md"
    assert main(["report", str(template), "-o", str(output)]) == 0
    text = output.read_text()
    assert "prose\n### T\n\n![t](../results/x/figures/a.png)\nmore prose" in text
    template.write_text("<!-- include: results/missing.md -->\n")
    assert main(["report", str(template), "-o", str(output)]) == 2
    assert "include results/missing.md not found" in capsys.readouterr().err


def test_adaptive_compares_the_worst_case_over_paper_and_all_attacks(smoke_all):
    header, rows = _table((smoke_all / "adaptive.md").read_text(), "hfcbench")
    assert header == ["detector", "BIM (before)", "worst, paper attacks", "by", "worst, all attacks", "by",
                      "joint AUC", "selective AUC", "orthogonal AUC", "auto AUC"]
    assert {r[0] for r in rows} >= {"kd", "maha", "lid", "svm", "dnn", "bu", "hfc"}
    for row in rows:
        for cell in (row[1], row[2], row[4], *row[6:]):
            _check_auc_cell(cell.replace(" (!)", ""))
    records = _records(smoke_all, "adaptive")
    worst = [r for r in records if r["attack"] == "worst-case"]
    assert worst and all(set(r["worst_of"]) >= {"joint", "selective", "orthogonal"} for r in worst)
    aware = [r for r in records if r["attack"] == "joint"]
    assert aware and all("unbounded_success" in r["checks"] and r["checks"]["trace"] for r in aware)
