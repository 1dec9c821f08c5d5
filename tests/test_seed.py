"""The seed of a run decides all its randomness: the initial weights, the order of the batches,
the augmentation draws and the dropout masks. Two seeds differ in each; one seed repeats all of
them, through ``fit`` and through the experiments' ``compare`` (issue 22: before it, a loader
shuffled and augmented from a seed of its own, so every seed of an experiment saw the same data).
"""

import pytest
import torch
from torch import nn

from alexnet_lesson.config import DataConfig, ModelConfig, Recipe, RunConfig
from alexnet_lesson.data import DeviceLoader, Images
from alexnet_lesson.experiments import compare
from alexnet_lesson.report import Report
from alexnet_lesson.train import build_model, fit

N = 48  # images; each its own label, so a label names the image it came with
DATA = DataConfig(size=28, augment=True, pad=2)
RECIPE = Recipe(epochs=2, batch_size=16, lr=0.05, schedule="constant", label_smoothing=0.0)


class Seen:
    """What one run drew: each batch's labels (the loader records them), each image's augmented
    pixels, the dropout masks and the initial weights."""

    def __init__(self, model: nn.Sequential) -> None:
        self.order, self.pixels, self.masks = [], {}, []
        self.weights = model[1].weight.detach().clone()

        def dropped(module, args, out):
            if module.training:
                self.masks.append(((out == 0) & (args[0] != 0)).clone())

        model[3].register_forward_hook(dropped)


def _net(seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Flatten(), nn.Linear(28 * 28, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, N)
    )


def _loader() -> DeviceLoader:
    g = torch.Generator().manual_seed(123)
    images = torch.randint(0, 256, (N, 28, 28), dtype=torch.uint8, generator=g)
    return DeviceLoader(Images(images, torch.arange(N), 120.0, 60.0), DATA, 16, train=True)


class Recording(DeviceLoader):
    """A training loader that also records what it yields (labels and pixels by image)."""

    seen: Seen

    def __iter__(self):
        for x, y in super().__iter__():
            self.seen.order.append(y.tolist())
            for image, label in zip(x, y.tolist(), strict=True):
                self.seen.pixels.setdefault(label, []).append(image.clone())
            yield x, y


def _recording_loader(seen: Seen) -> Recording:
    base = _loader()
    loader = Recording(Images(base.images, base.labels, 120.0, 60.0), DATA, 16, train=True)
    loader.seen = seen
    return loader


def _run_fit(seed: int) -> Seen:
    model = _net(seed)
    seen = Seen(model)
    config = RunConfig(ModelConfig(variant=None), DATA, RECIPE, seed)
    fit(model, _recording_loader(seen), None, config, report=Report(progress=False))
    return seen


def _same_pixels(a: Seen, b: Seen) -> bool:
    return all(
        all(torch.equal(p, q) for p, q in zip(a.pixels[k], b.pixels[k], strict=True))
        for k in a.pixels
    )


@pytest.fixture(scope="module")
def runs():
    return {"a": _run_fit(0), "again": _run_fit(0), "b": _run_fit(1)}


def test_one_seed_repeats_weights_batches_augmentation_and_dropout(runs):
    a, again = runs["a"], runs["again"]
    assert torch.equal(a.weights, again.weights)
    assert a.order == again.order
    assert _same_pixels(a, again)
    assert len(a.masks) == len(again.masks) == 2 * 3  # two epochs of three batches
    assert all(torch.equal(m, n) for m, n in zip(a.masks, again.masks, strict=True))


def test_two_seeds_differ_in_weights_batches_augmentation_and_dropout(runs):
    a, b = runs["a"], runs["b"]
    assert not torch.equal(a.weights, b.weights)
    assert a.order != b.order  # another order of the same images
    assert sorted(sum(a.order, [])) == sorted(sum(b.order, [])) == sorted(list(range(N)) * 2)
    # The same image, in the same epoch, is shifted and flipped differently.
    differ = [not torch.equal(a.pixels[k][0], b.pixels[k][0]) for k in range(N)]
    assert sum(differ) > N // 2
    assert not all(torch.equal(m, n) for m, n in zip(a.masks, b.masks, strict=True))


def test_each_epoch_draws_anew_within_a_run(runs):
    a = runs["a"]
    first, second = a.order[:3], a.order[3:]
    assert first != second
    assert sum(not torch.equal(p[0], p[1]) for p in a.pixels.values()) > N // 2


def test_compare_passes_each_seed_to_the_data_and_the_dropout():
    seen = {}

    def build(seed: int) -> nn.Module:
        model = _net(seed)
        seen.setdefault(seed, []).append(Seen(model))
        return model

    class Tap(Recording):
        def __iter__(self):
            self.seen = seen[self.current][-1]
            yield from super().__iter__()

    base = _loader()
    loader = Tap(Images(base.images, base.labels, 120.0, 60.0), DATA, 16, train=True)

    def builder(seed: int) -> nn.Module:
        loader.current = seed
        return build(seed)

    compare({"net": builder}, loader, None, RECIPE, seeds=[0, 1, 0])
    (a, again), (b,) = seen[0], seen[1]
    assert torch.equal(a.weights, again.weights) and not torch.equal(a.weights, b.weights)
    assert a.order == again.order and a.order != b.order
    assert _same_pixels(a, again) and not _same_pixels(a, b)
    assert all(torch.equal(m, n) for m, n in zip(a.masks, again.masks, strict=True))
    assert not all(torch.equal(m, n) for m, n in zip(a.masks, b.masks, strict=True))


def test_build_model_draws_the_weights_from_the_seed():
    a, b = build_model(RunConfig.of(seed=0)), build_model(RunConfig.of(seed=1))
    again = build_model(RunConfig.of(seed=0))
    assert torch.equal(a.conv1.weight, again.conv1.weight)
    assert not torch.equal(a.conv1.weight, b.conv1.weight)
