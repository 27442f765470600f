"""One side of the BIM comparison in ``ratios.py``, in its own process.

    python benchmarks/bim_worker.py hfcbench|torchattacks|parameters

``hfcbench``: ``build_attack("bim", model)`` on the zoo ResNet-20 (importing hfcbench, so its
process-wide settings apply). ``torchattacks``: ``torchattacks.BIM`` in targeted mode on
:class:`plain_resnet20.ResNet20`, in a process that never imports hfcbench. ``parameters``:
prints both models' parameter counts (a check that the shapes match). Both run a batch of 64
28x28 grey images, eps 8/256, alpha 1/256, :data:`STEPS` steps, with untrained weights (a step's
cost does not depend on them) and BatchNorm statistics set away from their defaults. After a
warm-up each line read from stdin runs one attack and answers its seconds per step.
"""

import sys
import time

import torch

STEPS = 20
EPS, ALPHA = 8 / 256, 1 / 256


def set_statistics(model: torch.nn.Module) -> torch.nn.Module:
    generator = torch.Generator().manual_seed(0)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.copy_(torch.rand(module.num_features, generator=generator) - 0.5)
            module.running_var.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
    return model.eval()


def hfcbench_attack():
    from hfcbench.attacks import build_attack
    from hfcbench.models import build_model

    model = set_statistics(build_model("resnet20", (1, 28, 28), 2, [0.5], [0.25]))
    attack = build_attack("bim", model, eps=EPS, alpha=ALPHA, steps=STEPS)
    return model, lambda x, target: attack(x, 1 - target, target).adv


def torchattacks_attack():
    import torchattacks
    from plain_resnet20 import ResNet20

    model = set_statistics(ResNet20())
    attack = torchattacks.BIM(model, eps=EPS, alpha=ALPHA, steps=STEPS)
    attack.set_mode_targeted_by_label(quiet=True)
    return model, attack


def main(side: str) -> None:
    torch.manual_seed(0)
    if side == "parameters":
        from plain_resnet20 import ResNet20

        from hfcbench.models import build_model

        print(sum(p.numel() for p in build_model("resnet20", (1, 28, 28), 2, [0.5], [0.25]).parameters()),
              sum(p.numel() for p in ResNet20().parameters()))
        return
    model, attack = hfcbench_attack() if side == "hfcbench" else torchattacks_attack()
    x, target = torch.rand(64, 1, 28, 28), torch.arange(64) % 2
    for _ in range(2):
        attack(x, target)
    print("ready", flush=True)
    for _ in sys.stdin:
        start = time.perf_counter()
        attack(x, target)
        print((time.perf_counter() - start) / STEPS, flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
