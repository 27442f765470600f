import pytest
import torch

from hfcbench.errors import InvalidParameterError
from hfcbench.models import MODELS, FeatureExtractor, build_model

# hooked layers: a ResNet's stem and every block but the last (whose channel means are the
# penultimate vector), VGG's 13 convolutional ReLUs
CASES = [
    ("resnet8", (1, 28, 28), 3),    # stem + 3 blocks - 1
    ("resnet20", (3, 28, 28), 9),   # stem + 9 blocks - 1
    ("resnet18", (1, 28, 28), 8),   # stem + 8 blocks - 1
    ("resnet50", (3, 32, 32), 16),  # stem + 16 bottlenecks - 1
    ("vgg16", (1, 28, 28), 13),
    ("resnet18_3d", (1, 16, 16, 16), 8),
    ("resnet8", (1, 12, 12, 12), 3),
    ("resnet8_3d", (1, 12, 12, 12), 3),
]


@pytest.mark.parametrize("arch,shape,n_layers", CASES)
def test_model_shapes_and_layers(arch, shape, n_layers):
    torch.manual_seed(0)
    model = build_model(arch, shape, 3, [0.5] * shape[0], [0.25] * shape[0]).eval()
    x = torch.rand(2, *shape)
    assert model(x).shape == (2, 3)
    extractor = FeatureExtractor(model)
    assert len(extractor.layer_names) == n_layers + 1 and extractor.layer_names[-1] == "penultimate"
    raw = {}
    handles = [m.register_forward_hook(lambda _m, _i, out, n=n: raw.__setitem__(n, out))
               for n, m in model.feature_modules().items()]
    feats = extractor(x)
    for handle in handles:
        handle.remove()
    for name, out in raw.items():  # channel mean over every spatial axis
        torch.testing.assert_close(feats.layers[name], out.mean(tuple(range(2, out.dim()))))


@pytest.mark.parametrize("arch", sorted(MODELS.names()))
def test_no_two_layers_of_any_zoo_model_are_the_same_feature(arch):
    """Each distinct feature is hooked once: on every zoo model, no two layers of ``Features``
    (the penultimate vector included) hold the same values (a ResNet's last block used to)."""
    shape = (1, 12, 12, 12) if arch.endswith("_3d") else (3, 28, 28)
    torch.manual_seed(0)
    model = build_model(arch, shape, 2, [0.5] * shape[0], [0.25] * shape[0]).eval()
    feats = FeatureExtractor(model).extract(torch.rand(6, *shape))
    names = feats.layer_names
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            a, b = feats.layers[first], feats.layers[second]
            assert a.shape != b.shape or not torch.allclose(a, b), f"{arch}: {first} and {second} are one feature"


def test_normalisation_is_the_first_layer():
    model = build_model("resnet8", (1, 8, 8), 2, [0.5], [0.25]).eval()
    x = torch.rand(1, 1, 8, 8)
    assert torch.allclose(model.normalize(x), (x - 0.5) / 0.25)


def test_resnet18_3d_refuses_images():
    with pytest.raises(InvalidParameterError, match="3-D volumes"):
        build_model("resnet18_3d", (1, 28, 28), 2, [0.5], [0.2])


def test_model_names_listed():
    assert {"resnet8", "resnet20", "resnet18", "resnet50", "vgg16", "resnet18_3d"} <= set(MODELS.names())


def test_resnet8_3d_halves_each_axis_in_the_stem():
    model = build_model("resnet8_3d", (1, 28, 28, 28), 2, [0.5], [0.25])
    stem = model.stem(torch.zeros(1, 1, 28, 28, 28))
    assert stem.shape == (1, 16, 14, 14, 14)  # 8x fewer voxels than resnet8's stem output
