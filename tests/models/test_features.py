"""FeatureExtractor on a model whose features are known in closed form."""

from collections import OrderedDict

import pytest
import torch
from torch import nn

from hfcbench.errors import InvalidParameterError
from hfcbench.models import FeatureExtractor, Features


class Known(nn.Module):
    """conv: channel c = (c + 1) * x (centre tap), ReLU; pool; fc with fixed weights."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3, padding=1, bias=False)
        with torch.no_grad():
            self.conv.weight.zero_()
            for c in range(3):
                self.conv.weight[c, 0, 1, 1] = c + 1.0
        self.relu = nn.ReLU()
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(3, 2)
        with torch.no_grad():
            self.fc.weight.copy_(torch.tensor([[1.0, 0.0, -1.0], [0.5, 2.0, 0.0]]))
            self.fc.bias.copy_(torch.tensor([0.1, -0.2]))

    def forward(self, x):
        return self.fc(self.drop(self.relu(self.conv(x)).amax((2, 3))))


def test_channel_means_penultimate_and_logits_match_hand_values():
    model = Known().train()  # extraction must switch dropout off and restore the flag
    x = torch.rand(4, 1, 5, 5)
    feats = FeatureExtractor(model)(x)
    assert feats.layer_names == ["relu", "penultimate"]
    means = x.mean((1, 2, 3))
    expected = torch.stack([means * (c + 1) for c in range(3)], 1)
    torch.testing.assert_close(feats.layers["relu"], expected)
    peak = x.amax((1, 2, 3))
    z = torch.stack([peak * (c + 1) for c in range(3)], 1)
    torch.testing.assert_close(feats.penultimate, z)
    torch.testing.assert_close(feats.logits, z @ model.fc.weight.T + model.fc.bias)
    assert model.training and model.drop.training
    assert not model.relu._forward_hooks and not model.fc._forward_pre_hooks


def test_gradient_flows_through_channel_means():
    model = Known()
    x = torch.rand(2, 1, 4, 4, requires_grad=True)
    feats = FeatureExtractor(model)(x)
    feats.layers["relu"][:, 2].sum().backward()
    # d/dx of mean(3 * x) over 16 pixels = 3/16 everywhere (x >= 0, so the ReLU passes)
    torch.testing.assert_close(x.grad, torch.full_like(x, 3 / 16))


def test_extract_streams_batches_with_same_values(tiny_net):
    x = torch.rand(37, 1, 12, 12)
    whole = FeatureExtractor(tiny_net)(x)
    streamed = FeatureExtractor(tiny_net).extract(x, torch.arange(37), batch_size=8)
    for name in whole.layer_names:
        torch.testing.assert_close(streamed.layers[name], whole.layers[name].detach())
    assert not streamed.logits.requires_grad and streamed.labels.tolist() == list(range(37))
    assert streamed.head_weight.shape == (2, 16)


def test_model_is_not_moved_or_changed(tiny_net):
    before = {k: v.clone() for k, v in tiny_net.state_dict().items()}
    FeatureExtractor(tiny_net).extract(torch.rand(5, 1, 8, 8))
    assert all(torch.equal(before[k], v) for k, v in tiny_net.state_dict().items())
    assert next(tiny_net.parameters()).device.type == "cpu"


def test_layer_selection_and_errors(tiny_net):
    assert FeatureExtractor(tiny_net, layers=["block2"]).layer_names == ["block2", "penultimate"]
    with pytest.raises(InvalidParameterError, match="unknown layer"):
        FeatureExtractor(tiny_net, layers=["block9"])


def test_nan_features_raise_a_clear_error():
    feats = Features(torch.tensor([[0.0, float("nan")]]), OrderedDict(penultimate=torch.zeros(1, 2)))
    with pytest.raises(InvalidParameterError, match="layer 'logits' holds NaN"):
        feats.check_finite()


def test_state_round_trip_with_weights_only(tmp_path, tiny_net):
    feats = FeatureExtractor(tiny_net).extract(torch.rand(3, 1, 8, 8), torch.tensor([0, 1, 0]))
    torch.save(feats.to_state(), tmp_path / "f.pt")
    back = Features.from_state(torch.load(tmp_path / "f.pt", weights_only=True))
    assert back.layer_names == feats.layer_names and torch.equal(back.penultimate, feats.penultimate)


def test_extracting_no_images_gives_empty_features_of_the_right_widths(tiny_net):
    feats = FeatureExtractor(tiny_net, maps="all").extract(torch.rand(0, 1, 8, 8))
    assert len(feats) == 0 and feats.logits.shape == (0, 2)
    assert feats.layers["block2"].shape == (0, 16) and feats.maps["block1"].shape == (0, 8, 8, 8)
