"""The ``hfcbench`` command line: it parses arguments and calls the library, nothing more."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import __version__
from .errors import PLUGIN_FAILURES, HfcbenchError
from .paths import writable_dir, writable_file
from .plugins import register_plugin

KINDS = ("datasets", "models", "detectors", "attacks", "experiments")


def _registry(kind: str):
    if kind == "datasets":
        from .datasets import DATASETS as registry
    elif kind == "models":
        from .models import MODELS as registry
    elif kind == "detectors":
        from .detectors import DETECTORS as registry
    elif kind == "experiments":
        from .experiments import EXPERIMENTS as registry
    else:
        from .attacks import ATTACKS as registry
    return registry


def _add_isa(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--isa", choices=("native", "avx2"), default="native",
                        help="CPU instruction set: native (default, fastest) or avx2, which gives the same numbers "
                             "on any x86 CPU with AVX2 (the regression gate uses it)")


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir",
                        help="folder of data files (default: $HFCBENCH_DATA, then ~/.cache/hfcbench/data)")
    parser.add_argument("--cache-dir", help="cache folder (default: $HFCBENCH_CACHE, then ~/.cache/hfcbench)")
    parser.add_argument("--no-cache", action="store_true", help="recompute everything (results are still cached)")
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    parser.add_argument("--seed", type=int, default=0, help="fixes every random choice (default 0)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    _add_isa(parser)
    parser.add_argument("--plugin", action="append", default=[], metavar="MODULE:CLASS",
                        help="register a detector or attack class from another package (repeatable)")


def _cmd_list(args) -> int:
    for plugin in args.plugin:
        register_plugin(plugin)
    registry = _registry(args.kind)
    from tabulate import tabulate

    rows = []
    for name in registry.names():
        try:
            rows.append((name, registry.describe(name)))
        except HfcbenchError as exc:
            rows.append((name, f"(cannot load: {exc})"))
    print(tabulate(rows, headers=[args.kind[:-1], "description"]))
    return 0


def _model_and_data(args):
    """The dataset and :class:`ModelChoice` that ``train`` and ``layers`` are given, checked by the
    run schema (one set of rules for every command)."""
    from dataclasses import replace

    from .datasets import load_dataset
    from .protocol.config import RunConfig

    keys = ("dataset", "image_size", "window", "model", "checkpoint", "layers", "head", "mean", "std")
    config = RunConfig(**{k: getattr(args, k) for k in keys if getattr(args, k) is not None})
    dataset = load_dataset(config.dataset, args.data_dir, quiet=args.quiet, image_size=config.image_size,
                           window=config.window)
    from .models import DEFAULT_MODEL

    config = replace(config, model=config.model or DEFAULT_MODEL[dataset.spatial_dims])
    return dataset, config.model_choice()


def _cmd_train(args) -> int:
    from .cache import Cache
    from .device import resolve_device
    from .models.training import TrainConfig
    from .models.zoo import load_classifier

    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed)
    cache = Cache(args.cache_dir, enabled=not args.no_cache)
    writable_dir(cache.root, "--cache-dir")
    dataset, choice = _model_and_data(args)
    trained = load_classifier(dataset, choice, config, cache=cache, device=resolve_device(args.device),
                              quiet=args.quiet)
    source = ("your checkpoint, nothing trained" if trained.checkpoint_sha256 else
              "cached checkpoint" if trained.from_cache else "trained now")
    print(f"{choice.name} on {dataset.name}: test accuracy {trained.test_accuracy:.4f} "
          f"(training took {trained.train_seconds:.0f} s; {source}; key {trained.key})")
    return 0


def _cmd_layers(args) -> int:
    from tabulate import tabulate

    from .models.own import describe_layers
    from .models.zoo import PROBE_IMAGES, raw_model, selected_layers

    dataset, choice = _model_and_data(args)
    model = raw_model(dataset, choice)
    probe = dataset.train.images[:PROBE_IMAGES]
    try:
        selected = selected_layers(model, choice, dataset)
    except HfcbenchError as exc:  # still list the modules (when a forward pass runs), so that the user can name some
        try:
            rows = [row[:4] for row in describe_layers(model, probe, [])]
        except PLUGIN_FAILURES:
            raise exc from None
        print(tabulate(rows, headers=["module", "type", "output shape", "calls"]))
        raise HfcbenchError(f"no layer would be hooked: {exc}") from None
    rows = [(name, kind, shape, calls, "hooked" if hooked else "")
            for name, kind, shape, calls, hooked in describe_layers(selected.model, probe, selected.layers)]
    print(tabulate(rows, headers=["module", "type", "output shape", "calls", ""]))
    print(f"hooked ({'--layers ' + choice.layers if choice.layers else 'default'}): {', '.join(selected.layers)}; "
          f"head (the penultimate vector is its input): {selected.head}; inputs {tuple(probe.shape[1:])} in [0, 1]"
          + (f", normalised with mean {list(choice.mean)} and std {list(choice.std or ())}" if choice.mean else ""))
    return 0



def _run_config(args):
    from .protocol.config import FILE_KEYS, RunConfig

    values = {}
    if args.config:
        import tomllib

        try:
            with open(args.config, "rb") as handle:
                values = tomllib.load(handle)
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            reason = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else exc
            raise HfcbenchError(f"--config {args.config}: {reason}") from None
        values = {k.replace("-", "_"): v for k, v in values.items()}
        unknown = sorted(set(values) - set(FILE_KEYS))
        if unknown:
            raise HfcbenchError(f"--config {args.config}: unknown keys {unknown}; allowed: {', '.join(FILE_KEYS)}")
    for key in FILE_KEYS:  # flags given on the command line win over the file
        value = getattr(args, key)
        if value is not None:
            values[key] = value
    try:
        return RunConfig(**values, no_cache=args.no_cache, quiet=args.quiet, plugins=args.plugin,
                         benign_shift=getattr(args, "benign_shift", None))
    except HfcbenchError as exc:
        where = f" (from --config {args.config} or the flags)" if args.config else ""
        raise HfcbenchError(f"{exc}{where}") from None


def _seeds(text: str) -> list[int]:
    """``"0,1,2"`` -> ``[0, 1, 2]`` (``--seeds``)."""
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma list of whole numbers such as 0,1,2") from None


def _floats(text: str) -> list[float]:
    """``"0.485,0.456,0.406"`` -> a list of floats (``--mean``, ``--std``)."""
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma list of numbers such as 0.5,0.5,0.5") from None


def _add_model_options(p: argparse.ArgumentParser, *, default_dataset: str | None = None) -> None:
    """The dataset and classifier options every command that loads a model shares."""
    p.add_argument("--dataset", default=default_dataset,
                   help="a registered dataset (hfcbench list datasets) or imagefolder:PATH (one folder per class)")
    p.add_argument("--image-size", dest="image_size", type=int,
                   help="imagefolder: pixels per axis images and volumes are resized to (default 64)")
    p.add_argument("--window", help="imagefolder: LOW,HIGH that float TIFF, DICOM and NIfTI values are clipped to and "
                                    "scaled by, e.g. -1000,400 (default: DICOM's own window, else per-image min-max)")
    p.add_argument("--model", help="a model name (hfcbench list models; default resnet20 for 2-D, resnet8_3d for "
                                   "3-D) or module:factory returning an nn.Module")
    p.add_argument("--checkpoint", help="the model's trained weights (a state dict); nothing is trained")
    p.add_argument("--layers", help="modules to hook, names or globs, e.g. layer1.*,layer4.1 "
                                    "(default: residual blocks or stages; hfcbench layers lists them)")
    p.add_argument("--head", help="the final nn.Linear (default: the model's classifier, else its last Linear)")
    p.add_argument("--mean", type=_floats, help="per-channel mean your model expects: prepends (x - mean) / std")
    p.add_argument("--std", type=_floats, help="per-channel std, with --mean")


def _cmd_run(args) -> int:

    from .protocol.runner import Runner
    from .report.files import write_tables
    from .report.leaderboard import render

    for plugin in args.plugin:
        register_plugin(plugin)
    if args.plots:
        from .report.plots import pyplot

        pyplot()  # fail before any work when the plots extra is missing
    config = _run_config(args)
    configs = config.per_seed()
    out, records = writable_dir(config.out, "--out"), []
    benign: list[dict] = []
    for seeded in configs:
        runner = Runner(seeded)
        records += list(runner.run(out / "results.jsonl"))
        if config.benign_shift:
            benign += list(runner.run_benign_shift(out / "benign_shift.jsonl"))
        if not config.quiet:
            print(runner.stages.summary(), file=sys.stderr)
        if args.plots:
            from .report.plots import write_run_plots

            folder = out / "plots" if len(configs) == 1 else out / "plots" / f"seed{seeded.seed}"
            written = write_run_plots(runner, folder)
            print(f"plots: {len(written)} PNG files in {folder}")
    print(render(records + benign, min_aes=config.min_aes))
    tables = write_tables(records + benign, out, min_aes=config.min_aes)
    print(f"results: {out / 'results.jsonl'} ({len(records)} records); tables: {', '.join(map(str, tables))}")
    failed = sorted({r["detector"] for r in records if "error" in r["metrics"]})
    if failed:
        print(f"hfcbench: {len(failed)} detector(s) failed: {', '.join(failed)} (exit status 1); every other cell "
              "was computed", file=sys.stderr)
        return 1
    return 0


def _cmd_validate(args) -> int:
    from .protocol.validate import validate

    for plugin in args.plugin:
        register_plugin(plugin)
    for line in validate(_run_config(args)):
        print(line)
    print("configuration OK: nothing was computed")
    return 0


def _cmd_experiment(args) -> int:
    from dataclasses import replace

    from .experiments import EXPERIMENTS, run_all
    from .report.plots import pyplot

    for plugin in args.plugin:
        register_plugin(plugin)
    pyplot()  # experiments draw figures: fail before any work when the plots extra is missing
    config = _run_config(args)
    if args.out is None:
        config = replace(config, out=str(Path("hfcbench-experiments") / config.dataset))
    writable_dir(config.out, "--out")
    names = None if args.name == "all" else [EXPERIMENTS.select(args.name)[0]]
    out, failed = Path(config.out), 0
    for name, result in run_all(config, out, names):
        if isinstance(result, Exception):
            failed += 1
            print(f"{name}: skipped: {result}", file=sys.stderr)
        else:
            print(result.markdown())
            print(f"{name}: wrote {out / (name + '.md')}, {out / (name + '.jsonl')}"
                  + (f" and {len(result.figures)} figures" if result.figures else ""))
    if names and failed:
        return 2
    return 0


def _cmd_report(args) -> int:

    from .experiments.include import fill_template

    text = fill_template(Path(args.template), writable_file(args.output, "-o"))
    print(f"wrote {args.output} ({len(text.splitlines())} lines)")
    return 0


def _cmd_leaderboard(args) -> int:
    from .protocol.config import check_option
    from .report.leaderboard import render
    from .results import read_records

    check_option("min_aes", args.min_aes)
    records = read_records(args.files)
    if args.html:
        from .report.page import write_page

        print(f"wrote {write_page(records, writable_file(args.html, '--html'), min_aes=args.min_aes)}")
        return 0
    print(render(records, "github" if args.markdown else "simple", min_aes=args.min_aes))
    return 0


def _cmd_sweep(args) -> int:
    from .protocol.config import check_option
    from .sweep import run_sweep

    check_option("min_aes", args.min_aes)
    return run_sweep(args.grid, out=args.out, executor=args.executor, address=args.address, workers=args.workers,
                     threads=args.threads, dry_run=args.dry_run, min_aes=args.min_aes, progress=not args.quiet,
                     data_dir=args.data_dir, cache_dir=args.cache_dir)


def _cmd_baseline(args) -> int:
    import json

    from .cache import atomic_write_bytes
    from .report.gate import make_baseline
    from .results import read_records

    baseline = make_baseline(read_records(args.results))
    atomic_write_bytes(writable_file(args.output, "-o"), lambda h: h.write(json.dumps(baseline, indent=1).encode()))
    print(f"wrote {len(baseline['entries'])} baseline entries to {args.output}")
    return 0


def _cmd_check(args) -> int:
    from .report.gate import compare, load_baseline
    from .results import read_records

    passed, report = compare(read_records(args.results), load_baseline(args.baseline), args.tolerance)
    print(report)
    return 0 if passed else 1


def _add_run_options(p: argparse.ArgumentParser) -> None:
    """The options ``run`` and ``experiment`` share (the keys of ``RunConfig``)."""
    _add_model_options(p)
    p.add_argument("--detectors", help="'all', a comma list or globs (default all)")
    p.add_argument("--attacks", help="evaluated attacks: hfc, random, closest, kde, lid, joint, selective, "
                                     "orthogonal, b+hfc, or all "
                                     "(default hfc,closest)")
    p.add_argument("--fit-attacks", dest="fit_attacks", help="base attacks the detectors are fitted on "
                                                             "(default bim,pgd,mim,tim,cw)")
    p.add_argument("--profile", choices=("smoke", "quick", "paper"), help="default quick")
    p.add_argument("--eps", help="L-inf budget, e.g. 1/256, or auto: the smallest budget on "
                                              "0.5,1,2,4,8,16 /256 where targeted BIM fools >= 95%% of the pool")
    p.add_argument("--alpha", help="step size, e.g. 0.02/256")
    p.add_argument("--steps", type=int)
    p.add_argument("--epochs", type=int, help="classifier training epochs")
    p.add_argument("--limit", type=int, help="cap the test pool (stratified)")
    p.add_argument("--gmm-components", dest="gmm_components", type=int, help="M of the HFC mixtures")
    p.add_argument("--hfc-weight", dest="hfc_weight", type=float,
                   help="multiplies HFC's per-layer weights lambda_l = 1/C_l (default 1, the paper's)")
    p.add_argument("--seeds", type=_seeds, help="run the whole protocol once per seed, e.g. 0,1,2 (overrides "
                                                "--seed); tables aggregate the seeds")
    p.add_argument("--min-aes", dest="min_aes", type=int,
                   help="an AUC resting on fewer successful AEs is not shown or ranked (default 20)")
    p.add_argument("--auto-version", dest="auto_version",
                   help="--attacks auto: standard (1 restart per arm) or plus (5 restarts, cross-entropy arms too)")
    p.add_argument("--auto-steps", dest="auto_steps", type=int,
                   help="--attacks auto: APGD iterations of each arm (default 100; the smoke profile's 20)")
    p.add_argument("--no-noisy", dest="noisy", action="store_false", default=None,
                   help="fit detectors without noisy copies of the clean inputs as extra negatives")
    p.add_argument("--batch-size", dest="batch_size", type=int)
    p.add_argument("--out", help="output folder (default hfcbench-results)")
    p.add_argument("--config", help="a TOML file with the same keys as the flags")
    _add_common(p)
    for action in p._actions:  # unset flags stay None so the config file and profile can fill them
        if action.dest in ("seed", "device"):
            action.default = None


def build_parser() -> argparse.ArgumentParser:
    from .models.training import TrainConfig

    parser = argparse.ArgumentParser(prog="hfcbench", description=__doc__)
    parser.add_argument("--version", action="version", version=f"hfcbench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="list registered datasets, models, detectors or attacks")
    p.add_argument("kind", choices=KINDS)
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE:CLASS")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("train", help="train (or load the cached) classifier for a dataset")
    _add_model_options(p, default_dataset="pneumoniamnist")
    defaults = TrainConfig()
    p.add_argument("--epochs", type=int, default=defaults.epochs)
    p.add_argument("--batch-size", type=int, default=defaults.batch_size)
    p.add_argument("--lr", type=float, default=defaults.lr)
    _add_common(p)
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("layers", help="list a model's modules with their output shapes, and which are hooked")
    _add_model_options(p, default_dataset="pneumoniamnist")
    _add_common(p)
    p.set_defaults(func=_cmd_layers)

    p = sub.add_parser("run", help="attack, fit and score every detector; print leaderboards")
    _add_run_options(p)
    p.add_argument("--plots", action="store_true", help="write ROC, per-layer AUC and t-SNE PNGs to OUT/plots "
                                                        "(needs the plots extra)")
    p.add_argument("--benign-shift", dest="benign_shift", nargs="?", const="auto", metavar="FAMILIES",
                   help="also measure each detector's false alarms at its 5%%-FPR threshold on AdvTest clean images "
                        "corrupted by MedMNIST-C's families (5 severities): 'auto' (the default when the flag is "
                        "given) takes the dataset's modality families, or the generic ones for other data; or a "
                        "comma list of families")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("validate",
                       help="check a run's options, plugins, data and folders in seconds, computing nothing")
    _add_run_options(p)
    p.set_defaults(func=_cmd_validate)

    from .experiments import EXPERIMENTS

    p = sub.add_parser("experiment", help="reproduce a table or figure of the paper (Markdown + JSONL + PNG)")
    p.add_argument("name", help=f"all, or one of: {', '.join(EXPERIMENTS.names())}")
    _add_run_options(p)
    p.set_defaults(func=_cmd_experiment)

    p = sub.add_parser("report", help="fill a Markdown template's include lines with experiment reports")
    p.add_argument("template", help="Markdown with lines '<!-- include: PATH -->' (PATH relative to the template)")
    p.add_argument("-o", "--output", required=True)
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("leaderboard", help="rebuild the tables from result files")
    p.add_argument("files", nargs="+")
    p.add_argument("--markdown", action="store_true")
    p.add_argument("--html", metavar="OUT.html", help="write one self-contained page (sortable, filterable) instead")
    p.add_argument("--min-aes", dest="min_aes", type=int, default=20,
                   help="an AUC resting on fewer successful AEs (per seed) is not shown or ranked (default 20)")
    p.set_defaults(func=_cmd_leaderboard)

    p = sub.add_parser("sweep", help="run a grid of settings (a TOML file) as one task graph, locally or on Ray")
    p.add_argument("grid", help="a TOML file of run options, any of them a list; [[exclude]] tables remove points")
    p.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="local (default): in this process, one task at a time; ray: on Ray workers (.[ray] extra)")
    p.add_argument("--address", help="an existing Ray cluster (e.g. ray://head:10001); default: start a local one")
    p.add_argument("--workers", type=int, default=2, help="CPUs of the local Ray instance (default 2)")
    p.add_argument("--threads", type=int, help="torch threads of every task (default: this machine's torch default); "
                                               "numbers depend on it, so local and ray use the same")
    p.add_argument("--dry-run", dest="dry_run", action="store_true",
                   help="print the task graph (counts, the first 200 tasks) and stop")
    p.add_argument("--out", default="hfcbench-sweep", help="output folder (default hfcbench-sweep)")
    p.add_argument("--min-aes", dest="min_aes", type=int, default=20,
                   help="an AUC resting on fewer successful AEs (per seed) is not shown or ranked (default 20)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--data-dir", help="folder of data files for every grid point; wins over data_dir in the grid "
                                      "(default: the grid's, then $HFCBENCH_DATA, then ~/.cache/hfcbench/data)")
    p.add_argument("--cache-dir", help="cache folder for every grid point; wins over cache_dir in the grid (default: "
                                       "the grid's, then $HFCBENCH_CACHE, then ~/.cache/hfcbench)")
    _add_isa(p)
    p.set_defaults(func=_cmd_sweep)

    p = sub.add_parser("baseline", help="write a baseline of AUCs from result files")
    p.add_argument("results", nargs="+")
    p.add_argument("-o", "--output", required=True)
    p.set_defaults(func=_cmd_baseline)

    p = sub.add_parser("check", help="fail when AUCs moved beyond the tolerance from a baseline")
    p.add_argument("results", nargs="+")
    p.add_argument("--baseline", required=True)
    p.add_argument("--tolerance", type=float, default=0.02)
    p.set_defaults(func=_cmd_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from .isa import is_pinned, run_pinned

    if not is_pinned(getattr(args, "isa", "native")):  # the variables must be set before torch loads
        return run_pinned(args.isa, sys.argv[1:] if argv is None else argv)
    try:
        return args.func(args)
    except HfcbenchError as exc:
        # one line whatever the message holds (a file name with a line break is shown escaped)
        text = "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in str(exc))
        print(f"hfcbench: error: {text}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hfcbench: interrupted; finished work is cached and is reused by the next run", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
