"""The ``hfcbench`` command line: it parses arguments and calls the library, nothing more."""

from __future__ import annotations

import argparse
import sys

from . import __version__
from .errors import HfcbenchError

KINDS = ("datasets", "models", "detectors", "attacks")


def _registry(kind: str):
    if kind == "datasets":
        from .datasets import DATASETS as registry
    elif kind == "models":
        from .models import MODELS as registry
    elif kind == "detectors":
        from .detectors import DETECTORS as registry
    else:
        from .attacks import ATTACKS as registry
    return registry


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help="folder of data files (default: $HFCBENCH_DATA, then ~/.cache/hfcbench/data)")
    parser.add_argument("--cache-dir", help="cache folder (default: $HFCBENCH_CACHE, then ~/.cache/hfcbench)")
    parser.add_argument("--no-cache", action="store_true", help="recompute everything (results are still cached)")
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    parser.add_argument("--seed", type=int, default=0, help="fixes every random choice (default 0)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
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


def register_plugin(spec: str) -> str:
    """``module:Class`` -> registered in the detectors or attacks registry, by its base class."""
    from .registry import import_object

    obj = import_object(spec)
    from .attacks.base import Attack
    from .detectors.base import Detector

    if isinstance(obj, type) and issubclass(obj, Detector):
        return _registry("detectors").add_plugin(spec)
    if isinstance(obj, type) and issubclass(obj, Attack):
        return _registry("attacks").add_plugin(spec)
    raise HfcbenchError(f"--plugin {spec}: {obj!r} is neither a hfcbench Detector nor an Attack subclass")


def _cmd_train(args) -> int:
    from .cache import Cache
    from .datasets import load_dataset
    from .device import resolve_device
    from .models import DEFAULT_MODEL
    from .models.training import TrainConfig
    from .models.zoo import load_or_train

    dataset = load_dataset(args.dataset, args.data_dir, quiet=args.quiet)
    arch = args.model or DEFAULT_MODEL[dataset.spatial_dims]
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed)
    trained = load_or_train(dataset, arch, config, cache=Cache(args.cache_dir, enabled=not args.no_cache),
                            device=resolve_device(args.device), quiet=args.quiet)
    source = "cached checkpoint" if trained.from_cache else "trained now"
    print(f"{arch} on {dataset.name}: test accuracy {trained.test_accuracy:.4f} "
          f"(training took {trained.train_seconds:.0f} s; {source}; key {trained.key})")
    return 0


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
    p.add_argument("--dataset", default="pneumoniamnist")
    p.add_argument("--model", help="architecture (default: resnet20 for 2-D, resnet8 for 3-D)")
    defaults = TrainConfig()
    p.add_argument("--epochs", type=int, default=defaults.epochs)
    p.add_argument("--batch-size", type=int, default=defaults.batch_size)
    p.add_argument("--lr", type=float, default=defaults.lr)
    _add_common(p)
    p.set_defaults(func=_cmd_train)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except HfcbenchError as exc:
        print(f"hfcbench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hfcbench: interrupted; finished work is cached and is reused by the next run", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
