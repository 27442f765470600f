import torch

from hfcbench.cache import Cache
from hfcbench.datasets import load_dataset
from hfcbench.models.training import TrainConfig, augment_batch, channel_stats
from hfcbench.models.zoo import checkpoint_key, load_or_train


def test_channel_stats_by_hand():
    x = torch.zeros(2, 2, 2, 2)
    x[:, 1] = torch.tensor([1.0, 3.0]).view(2, 1, 1)
    mean, std = channel_stats(x)
    assert mean == [0.0, 2.0]
    assert std[0] == 1e-3  # constant channel floored
    assert abs(std[1] - torch.tensor([1.0] * 4 + [3.0] * 4, dtype=torch.float64).std().item()) < 1e-9


def test_augmented_image_is_a_shifted_window():
    x = torch.arange(2 * 1 * 10 * 10, dtype=torch.float32).view(2, 1, 10, 10)
    out = augment_batch(x, hflip=False, generator=torch.Generator().manual_seed(0))
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1))
    for i in range(2):
        windows = [padded[i, :, a:a + 10, b:b + 10] for a in range(3) for b in range(3)]
        assert any(torch.equal(out[i], w) for w in windows)


def test_flip_only_on_width_axis_for_volumes():
    x = torch.rand(64, 1, 4, 4, 4)
    out = augment_batch(x, hflip=True, generator=torch.Generator().manual_seed(1))
    assert out.shape == x.shape


def test_cache_key_covers_every_parameter():
    ds = load_dataset("synthetic")
    base = checkpoint_key(ds, "resnet8", TrainConfig())
    assert base == checkpoint_key(ds, "resnet8", TrainConfig())
    assert base != checkpoint_key(ds, "resnet20", TrainConfig())
    for change in ({"epochs": 3}, {"lr": 0.01}, {"seed": 1}, {"batch_size": 64}, {"augment": False}):
        assert base != checkpoint_key(ds, "resnet8", TrainConfig(**change))


def test_train_then_load_from_cache(tmp_path):
    ds = load_dataset("synthetic")
    cache = Cache(tmp_path)
    config = TrainConfig(epochs=2, batch_size=100, seed=3)
    first = load_or_train(ds, "resnet8", config, cache=cache, device=torch.device("cpu"), quiet=True)
    assert not first.from_cache and first.test_accuracy > 0.75  # lesions are easy to see
    state = cache.load("checkpoints", first.key)
    assert state["arch"] == "resnet8"
    second = load_or_train(ds, "resnet8", config, cache=cache, device=torch.device("cpu"), quiet=True)
    assert second.from_cache and second.test_accuracy == first.test_accuracy
    for (k, a), b in zip(first.model.state_dict().items(), second.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), k


def test_same_seed_same_weights(tmp_path):
    ds = load_dataset("synthetic")
    config = TrainConfig(epochs=1, batch_size=200)
    a = load_or_train(ds, "resnet8", config, cache=Cache(tmp_path / "a"), device=torch.device("cpu"), quiet=True)
    b = load_or_train(ds, "resnet8", config, cache=Cache(tmp_path / "b"), device=torch.device("cpu"), quiet=True)
    for x, y in zip(a.model.state_dict().values(), b.model.state_dict().values(), strict=True):
        assert torch.equal(x, y)
