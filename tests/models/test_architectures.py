import pytest
import torch

from hfcbench.errors import InvalidParameterError
from hfcbench.models import MODELS, FeatureExtractor, build_model

CASES = [
    ("resnet8", (1, 28, 28), 4),    # stem + 3 blocks
    ("resnet20", (3, 28, 28), 10),  # stem + 9 blocks
    ("resnet18", (1, 28, 28), 9),   # stem + 8 blocks
    ("resnet50", (3, 32, 32), 17),  # stem + 16 bottlenecks
    ("vgg16", (1, 28, 28), 13),     # 13 convolutional ReLUs
    ("resnet18_3d", (1, 16, 16, 16), 9),
    ("resnet8", (1, 12, 12, 12), 4),
    ("resnet8_3d", (1, 12, 12, 12), 4),
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
