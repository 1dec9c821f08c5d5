"""Lesson 08's evaluation tools: tables against hand counts, TTA views, neighbours, feature maps, predict."""

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from alexnet_lesson import evaluate as ev
from alexnet_lesson.data import (
    CLASS_NAMES,
    DeviceLoader,
    device_loaders,
    device_splits,
    load_split,
    pixel_stats,
    preprocess,
)
from alexnet_lesson.models import alexnet
from alexnet_lesson.session import Setup
from alexnet_lesson.shapes import trace
from alexnet_lesson.train import Recipe, Report, fit, load_checkpoint, loss_and_accuracy

SIZE = 32  # a small "input size" so that the tiny model below is fast


class Tiny(nn.Sequential):
    """A small CNN with the attributes predict reads from an AlexNet (input_size, in_channels)."""

    def __init__(self, seed: int = 0):
        torch.manual_seed(seed)
        super().__init__()
        self.add_module("conv1", nn.Conv2d(1, 8, 5, stride=2))
        self.add_module("relu1", nn.ReLU())
        self.add_module("pool", nn.AdaptiveAvgPool2d(4))
        self.add_module("flatten", nn.Flatten())
        self.add_module("fc7", nn.Linear(128, 16))
        self.add_module("relu7", nn.ReLU())
        self.add_module("fc8", nn.Linear(16, 10))
        self.input_size, self.in_channels = SIZE, 1


@pytest.fixture(scope="module")
def images():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (40, 28, 28), generator=g, dtype=torch.uint8)
    x[:, :3], x[:, -3:], x[:, :, :3], x[:, :, -3:] = (
        0,
        0,
        0,
        0,
    )  # a black border, like Fashion-MNIST
    return x, torch.arange(40) % 10


@pytest.fixture(scope="module")
def loader(images):
    x, y = images
    mean, std = pixel_stats(x)
    return DeviceLoader(x, y, batch_size=16, size=SIZE, mean=mean, std=std)


def probs(rows):
    return torch.tensor(rows, dtype=torch.float32)


# --------------------------------------------------------------------------- tables


def test_confusion_matrix_counts_pairs_like_a_loop():
    rng = np.random.default_rng(0)
    labels, preds = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    expected = np.zeros((4, 4), int)
    for t, p in zip(labels, preds, strict=True):
        expected[t, p] += 1
    assert (ev.confusion_matrix(labels, preds, 4) == expected).all()
    norm = ev.confusion_matrix(labels, preds, 4, normalize=True)
    assert np.allclose(norm.sum(1), 1.0)
    assert np.allclose(np.diag(norm), np.diag(expected) / expected.sum(1))


def test_predictions_agree_with_the_trainers_evaluate(loader):
    model = Tiny()
    p = ev.predictions(model, loader, features=True)
    _, acc = loss_and_accuracy(model, loader)
    assert p.accuracy == pytest.approx(acc)
    assert p.probs.shape == (40, 10) and torch.allclose(p.probs.sum(1), torch.ones(40))
    assert p.features.shape == (40, 16) and (p.features >= 0).all()  # relu7's output
    assert torch.equal(p.labels, loader.labels)
    assert p.top_k_accuracy(1) == pytest.approx(p.accuracy)
    assert p.accuracy <= p.top_k_accuracy(2) <= p.top_k_accuracy(10) == 1.0
    assert model.training  # predictions restores the mode it found


def test_predictions_refuses_a_shuffling_loader(images):
    x, y = images
    with pytest.raises(ValueError, match="shuffle"):
        ev.predictions(Tiny(), DeviceLoader(x, y, 8, size=SIZE, shuffle=True))


def test_per_class_table_and_pairs():
    # class 0: 3 images, 2 right, 1 called class 2; class 1: 2 images, both called 2; class 2: 1, right
    labels = torch.tensor([0, 0, 0, 1, 1, 2])
    preds = torch.tensor([0, 0, 2, 2, 2, 2])
    p = ev.Predictions(torch.eye(3)[preds], labels)
    table = ev.per_class_table(p, ["a", "b", "c"])
    assert table["images"].tolist() == [3, 2, 1]
    assert table["correct"].tolist() == [2, 0, 1]
    assert table["accuracy"].tolist() == pytest.approx([2 / 3, 0.0, 1.0])
    assert table.loc["c", "precision"] == pytest.approx(1 / 4)
    assert table.loc["b", "most often called"] == "c (2)"
    pairs = ev.confused_pairs(p, k=5, class_names=["a", "b", "c"])
    assert pairs[["true", "predicted", "mistakes"]].values.tolist() == [
        ["b", "c", 2],
        ["a", "c", 1],
    ]
    assert pairs["share"].tolist() == pytest.approx([1.0, 1 / 3])
    assert ev.pair_examples(p, 1, 2).tolist() == [3, 4]


def test_confident_mistakes_are_wrong_and_sorted():
    p = ev.Predictions(
        probs([[0.6, 0.4], [0.1, 0.9], [0.95, 0.05], [0.2, 0.8], [0.7, 0.3]]),
        torch.tensor([1, 1, 1, 0, 0]),
    )
    assert ev.confident_mistakes(p).tolist() == [2, 3, 0]
    assert ev.confident_mistakes(p, k=1).tolist() == [2]


# --------------------------------------------------------------------------- TTA


def test_tta_views_are_the_ten_patches():
    img = torch.arange(2 * 28 * 28, dtype=torch.float32).reshape(2, 28, 28)
    views = ev.tta_views(img, pad=2)
    assert len(views) == 10 and all(v.shape == img.shape for v in views)
    assert torch.equal(views[0], img)  # the centre crop of the padded image is the image
    assert torch.equal(views[1], img.flip(-1))
    top_left = views[2]  # crop at (0, 0): the image moves 2 pixels right and down
    assert torch.equal(top_left[:, 2:, 2:], img[:, :-2, :-2]) and (top_left[:, :2] == 0).all()
    bottom_right = views[8]
    assert torch.equal(bottom_right[:, :-2, :-2], img[:, 2:, 2:])
    assert len({tuple(v.flatten().tolist()) for v in views}) == 10  # all different
    assert len(ev.tta_views(img, views="flip")) == 2 and len(ev.tta_views(img, views="shift")) == 5
    with pytest.raises(ValueError, match="views"):
        ev.tta_views(img, views="rotate")


def test_tta_predictions_average_the_views(images, loader):
    x, y = images
    model = Tiny()
    tta = ev.tta_predictions(model, x, y, SIZE, loader.mean, loader.std, views="flip", batch_size=7)
    with torch.no_grad():
        a = model(preprocess(x, SIZE, loader.mean, loader.std)).softmax(1)
        b = model(preprocess(x.flip(-1), SIZE, loader.mean, loader.std)).softmax(1)
    # float32 probabilities (eps 1.2e-7): 1e-6 allows a few roundings; measured ≤ 3e-8 over 10 seeds
    assert torch.allclose(tta.probs, (a + b) / 2, atol=1e-6)
    plain = ev.predictions(model, loader)
    assert torch.allclose(plain.probs, a, atol=1e-6)  # one preprocessing for both


def test_tta_compare_and_mcnemar():
    labels = torch.tensor([0, 1, 1, 0])
    plain = ev.Predictions(torch.eye(2)[[0, 0, 0, 1]], labels)  # right, wrong, wrong, wrong
    tta = ev.Predictions(torch.eye(2)[[1, 1, 1, 1]], labels)  # wrong, right, right, wrong
    row = ev.tta_compare(plain, tta).iloc[0]
    assert (row["fixed"], row["broken"]) == (2, 1)
    assert row["change"] == pytest.approx(0.5 - 0.25)
    assert ev.mcnemar_p(2, 1) == pytest.approx(1.0)  # 2·P(X ≤ 1), X ~ Bin(3, ½) = 2·4/8
    assert ev.mcnemar_p(10, 0) == pytest.approx(2 / 2**10)
    assert ev.mcnemar_p(3, 9) == ev.mcnemar_p(9, 3)
    with pytest.raises(ValueError, match="same images"):
        ev.tta_compare(plain, ev.Predictions(tta.probs, labels.roll(1)))


# --------------------------------------------------------------------------- inside the model


def test_nearest_neighbours_match_brute_force():
    g = torch.Generator().manual_seed(1)
    q, gallery = torch.randn(5, 8, generator=g), torch.randn(30, 8, generator=g)
    got = ev.nearest_neighbours(q, gallery, k=3)
    for i in range(5):
        d = [float(((q[i] - gallery[j]) ** 2).sum()) for j in range(30)]
        assert got[i].tolist() == sorted(range(30), key=d.__getitem__)[:3]
    self_nn = ev.nearest_neighbours(gallery, gallery, k=1, exclude_self=True)
    assert (self_nn[:, 0] != torch.arange(30)).all()


def test_nearest_neighbour_labels_are_the_closest_rows_labels():
    g = torch.Generator().manual_seed(1)
    gallery, queries = torch.randn(50, 6, generator=g), torch.randn(23, 6, generator=g)
    labels = torch.arange(50) % 3
    want = labels[torch.cdist(queries, gallery).argmin(1)]
    for batch_size in (1, 5, 500):  # the batching does not change the answer
        got = ev.nearest_neighbour_labels(queries, gallery, labels, batch_size=batch_size)
        assert torch.equal(got, want)
    images = torch.randint(0, 256, (8, 28, 28), generator=g, dtype=torch.uint8)
    assert torch.equal(
        ev.nearest_neighbour_labels(images, images, torch.arange(8)), torch.arange(8)
    )


def test_paired_comparison_counts_the_images_only_one_gets_right():
    labels = torch.tensor([0, 1, 2, 3, 4, 5])
    first = torch.tensor([0, 1, 2, 9, 9, 9])  # 3 right
    second = torch.tensor([0, 9, 2, 3, 4, 9])  # 4 right: 2 that first missed, 1 that it lost
    row = ev.paired_comparison(labels, first, second, names=("pixels", "fc7")).iloc[0]
    assert (row["pixels accuracy"], row["fc7 accuracy"]) == (0.5, pytest.approx(4 / 6))
    assert (row["only fc7 right"], row["only pixels right"]) == (2, 1)
    assert row["p (McNemar)"] == pytest.approx(ev.mcnemar_p(2, 1))


def test_yardsticks_name_a_source_for_every_number():
    t = ev.yardsticks()
    assert t["test accuracy"].between(0.5, 1).all()
    assert t["source"].str.len().gt(10).all()
    assert t["source"].str.contains("Xiao et al. 2017").sum() >= 2
    assert "arXiv:1708.07747" in ev.yardsticks.__doc__ and "d2l.ai" in ev.yardsticks.__doc__


def test_eval_loader_splits_are_lesson_07s(synthetic):
    info = {"size": 64, "mean": 0.3, "std": 0.3, "in_channels": 1}
    splits = device_splits(synthetic, batch_size=8, size=64)
    loaders = {s: ev.eval_loader(synthetic, info, s) for s in ev.SPLITS}
    for name in ("train", "val", "test"):
        assert torch.equal(loaders[name].images, getattr(splits, name).images)
        assert torch.equal(loaders[name].labels, getattr(splits, name).labels)
    assert len(loaders["train+val"].images) == len(loaders["train"].images) + len(
        loaders["val"].images
    )
    assert len(ev.eval_loader(synthetic, info, "val", limit=5).images) == 5
    with pytest.raises(ValueError, match="split must be"):
        ev.eval_loader(synthetic, info, "validation")


@pytest.mark.slow
def test_lesson07_model_loads_the_run_or_trains_a_stand_in(synthetic, tmp_path):
    env = Setup(smoke=True, device=torch.device("cpu"), data=synthetic)
    model, info = ev.lesson07_model(env, path=tmp_path / "missing" / "best.pt", steps=1)
    assert info["stand_in"] and "STAND-IN" in info["source"]
    assert (info["variant"], info["epoch"], info["size"]) == ("d2l", 1, 224)
    assert "validation" in info["data"] and not model.training
    stand_in = info["path"]
    again, info2 = ev.lesson07_model(env, path=stand_in)  # a run that exists is loaded, not trained
    assert not info2["stand_in"] and str(stand_in) in info2["source"]
    assert torch.equal(again.fc8.weight, model.fc8.weight)


def test_feature_maps_and_kernels_of_d2l():
    model = alexnet("d2l", seed=0)
    maps = ev.feature_maps(model, torch.randn(1, 224, 224))
    rows = {row.name: row.out for row in trace(model, (1, 224, 224)).rows}
    assert list(maps) == ["conv1", "conv2", "conv3", "conv4", "conv5"]
    for name, fmap in maps.items():
        assert tuple(fmap.shape) == rows[name]
        assert fmap.min() >= 0  # after the ReLU
    kernels = ev.conv1_kernels(model)
    assert kernels.shape == (96, 1, 11, 11)
    kernels.zero_()
    assert model.conv1.weight.abs().sum() > 0  # a copy, not the weights themselves
    with pytest.raises(ValueError, match="no layer"):
        ev.feature_maps(model, torch.randn(1, 224, 224), layers=["conv9"])


# --------------------------------------------------------------------------- predict


@pytest.fixture(scope="module")
def norm(images):
    return dict(zip(("mean", "std"), pixel_stats(images[0]), strict=True))


def test_predict_uses_the_training_preprocessing(images, loader, norm):
    model = Tiny()
    p = ev.predictions(model, loader)
    for i in (0, 7, 23):
        top = ev.predict(model, images[0][i], k=10, **norm)
        got = {name: prob for name, prob in top}
        want = p.probs[i]
        assert [got[c] for c in CLASS_NAMES] == pytest.approx(want.tolist(), abs=1e-6)
        assert [prob for _, prob in top] == sorted((prob for _, prob in top), reverse=True)


def test_predict_accepts_arrays_tensors_pil_and_files(images, norm, tmp_path):
    model = Tiny()
    img = images[0][5].numpy()
    want = ev.predict(model, img, **norm)
    path = tmp_path / "garment.png"
    Image.fromarray(img).save(path)
    same = [
        torch.from_numpy(img),
        img.astype(np.float32) / 255,
        torch.from_numpy(img)[None].float() / 255,  # 1×28×28
        img[:, :, None],  # 28×28×1
        torch.from_numpy(img).double() / 255,
        Image.fromarray(img),
        Image.fromarray(np.stack([img] * 3, -1)),  # grey stored as RGB
        path,
        str(path),
        255 - img,  # light background: inverted back by invert="auto"
    ]
    for image in same:
        got = ev.predict(model, image, **norm)
        assert [n for n, _ in got] == [n for n, _ in want]
        assert [v for _, v in got] == pytest.approx([v for _, v in want], abs=1e-5)
    info = {"mean": norm["mean"], "std": norm["std"], "size": SIZE}
    assert ev.predict(model, img, info=info) == want
    assert len(ev.predict(model, img, k=1, **norm)) == 1
    # bfloat16 keeps 8 significant bits: pixels move by up to 2⁻⁹ relative; the probabilities
    # moved by ≤ 6e-5 over 10 seeds (model and image)
    half = (torch.from_numpy(img) / 255).to(torch.bfloat16)  # numpy has no bfloat16
    got, full = (
        dict(ev.predict(model, half, k=10, **norm)),
        dict(ev.predict(model, img, k=10, **norm)),
    )
    assert [got[c] for c in CLASS_NAMES] == pytest.approx([full[c] for c in CLASS_NAMES], abs=1e-2)


def test_predict_converts_colour_photos_of_any_size(norm, tmp_path):
    photo = np.full((90, 60, 3), 250, np.uint8)  # a light background, portrait, colour
    photo[20:70, 15:45] = (200, 30, 30)  # a red garment
    grey = ev.to_grey28(Image.fromarray(photo))
    assert grey.shape == (28, 28) and grey.dtype == np.float32
    assert grey[0].max() < 0.05  # white background inverted to black
    luma = (0.299 * 200 + 0.587 * 30 + 0.114 * 30) / 255
    assert grey[14, 14] == pytest.approx(1 - luma, abs=0.02)
    rgba = np.zeros((28, 28, 4), np.uint8)  # fully transparent: the black background
    assert ev.to_grey28(Image.fromarray(rgba, "RGBA")).max() == 0
    Image.fromarray(photo).save(tmp_path / "photo.jpg")
    assert len(ev.predict(Tiny(), tmp_path / "photo.jpg", **norm)) == 5


@pytest.mark.parametrize(
    "image, error, words",
    [
        (np.zeros((27, 28), np.uint8), ValueError, "28×28"),
        (np.zeros((5, 28, 28), np.uint8), ValueError, "one image"),
        (np.zeros((28, 28, 3), np.uint8), ValueError, "colour"),
        (np.zeros((3, 28, 28), np.float32), ValueError, "colour"),
        (np.zeros((28, 28), np.int64), TypeError, "uint8"),
        (np.zeros((28, 28), bool), TypeError, "dtype"),
        (torch.zeros(28, 28, dtype=torch.bfloat16) + 2, ValueError, "0-1"),
        (np.full((28, 28), 255.0, np.float32), ValueError, "divide"),
        (np.full((28, 28), np.nan, np.float32), ValueError, "NaN"),
        ([[0] * 28] * 28, TypeError, "numpy array"),
        (None, TypeError, "PIL image"),
    ],
)
def test_predict_bad_input_says_what_to_do(image, error, words, norm):
    with pytest.raises(error, match=words):
        ev.predict(Tiny(), image, **norm)


def test_predict_bad_files_and_arguments(tmp_path, norm):
    model = Tiny()
    with pytest.raises(FileNotFoundError, match="no file"):
        ev.predict(model, tmp_path / "missing.png", **norm)
    fake = tmp_path / "notes.png"
    fake.write_text("not an image")
    with pytest.raises(ValueError, match="not an image"):
        ev.predict(model, fake, **norm)
    with pytest.raises(IsADirectoryError, match="folder"):
        ev.predict(model, tmp_path, **norm)
    img = np.zeros((28, 28), np.uint8)
    with pytest.raises(ValueError, match="normalisation"):
        ev.predict(model, img)
    with pytest.raises(ValueError, match="k must be"):
        ev.predict(model, img, k=11, **norm)
    with pytest.raises(ValueError, match="invert"):
        ev.predict(model, img, invert="maybe", **norm)


def test_predict_on_alexnet_d2l():
    model = alexnet("d2l", seed=0)
    top = ev.predict(model, np.zeros((28, 28), np.uint8), k=10, mean=0.29, std=0.35)
    assert sorted(n for n, _ in top) == sorted(CLASS_NAMES)
    assert sum(p for _, p in top) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.slow
def test_a_checkpoint_gives_back_the_model_and_its_preprocessing(synthetic, tmp_path):
    train, _ = device_loaders(synthetic, batch_size=8, augment=True, limit=(8, 1))
    trained = alexnet("d2l", seed=3)
    recipe = Recipe(epochs=1, lr=0.01, batch_size=8, schedule="constant", label_smoothing=0.0)
    fit(trained, train, None, recipe, out_dir=tmp_path, data="eight synthetic images",
        report=Report(progress=False))  # fmt: skip
    model, info = load_checkpoint(tmp_path)
    assert not model.training and torch.equal(model.fc8.weight, trained.fc8.weight.cpu())
    assert (info["variant"], info["size"], info["data"]) == ("d2l", 224, "eight synthetic images")
    assert (info["mean"], info["std"]) == pixel_stats(load_split(synthetic, True)[0][:8])
    assert info["recipe"] == recipe
    loader = ev.eval_loader(synthetic, info, limit=10, batch_size=4)
    assert (loader.size, loader.mean, loader.std, len(loader.images)) == (
        224, info["mean"], info["std"], 10,
    )  # fmt: skip


def test_a_photo_is_turned_upright_by_its_exif_orientation(tmp_path):
    upright = np.zeros((40, 28), np.uint8)
    upright[:10, :] = 255  # a bright band at the top
    sideways = np.rot90(upright, k=1).copy()  # as a phone sensor stored it: 28 tall, 40 wide
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation 6: rotate 90° clockwise to view
    Image.fromarray(sideways).save(tmp_path / "photo.png", exif=exif)
    Image.fromarray(upright).save(tmp_path / "upright.png")
    got, want = (
        ev.to_grey28(tmp_path / "photo.png", invert=False),
        ev.to_grey28(tmp_path / "upright.png", invert=False),
    )
    assert np.allclose(got, want, atol=1 / 255) and got[:5].mean() > got[-5:].mean() + 0.5
