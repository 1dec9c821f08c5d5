"""The measurements of a trained model (lesson 08): tables against hand counts, McNemar, TTA views,
neighbours, feature maps, the evaluation loaders and the stand-in model."""

from pathlib import Path

import numpy as np
import pytest
import torch
from nets import TINY_SIZE, Tiny

from alexnet_lesson import analysis as an
from alexnet_lesson import tables
from alexnet_lesson.checkpoint import load_checkpoint
from alexnet_lesson.config import DataConfig, Recipe, RunConfig
from alexnet_lesson.data import DeviceLoader, Images, load_split, pixel_stats, preprocess, splits
from alexnet_lesson.models import alexnet
from alexnet_lesson.report import Report
from alexnet_lesson.session import Setup
from alexnet_lesson.shapes import trace
from alexnet_lesson.train import fit, loss_and_accuracy

SIZE = TINY_SIZE


@pytest.fixture(scope="module")
def loader(images):
    x, y = images
    mean, std = pixel_stats(x)
    return DeviceLoader(Images(x, y, mean, std), DataConfig(size=SIZE), batch_size=16)


def probs(rows):
    return torch.tensor(rows, dtype=torch.float32)


# --------------------------------------------------------------------------- tables


def test_confusion_matrix_counts_pairs_like_a_loop():
    rng = np.random.default_rng(0)
    labels, preds = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    expected = np.zeros((4, 4), int)
    for t, p in zip(labels, preds, strict=True):
        expected[t, p] += 1
    assert (an.confusion_matrix(labels, preds, 4) == expected).all()
    norm = an.confusion_matrix(labels, preds, 4, normalize=True)
    assert np.allclose(norm.sum(1), 1.0)
    assert np.allclose(np.diag(norm), np.diag(expected) / expected.sum(1))


def test_predictions_agree_with_the_trainers_evaluate(loader):
    model = Tiny()
    p = an.predictions(model, loader, features=True)
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
        an.predictions(Tiny(), DeviceLoader(Images(x, y), DataConfig(size=SIZE), 8, train=True))


def test_per_class_table_and_pairs():
    # class 0: 3 images, 2 right, 1 called class 2; class 1: 2 images, both called 2; class 2: 1, right
    labels = torch.tensor([0, 0, 0, 1, 1, 2])
    preds = torch.tensor([0, 0, 2, 2, 2, 2])
    p = an.Predictions(torch.eye(3)[preds], labels)
    table = an.per_class_table(p, ["a", "b", "c"])
    assert table["images"].tolist() == [3, 2, 1]
    assert table["correct"].tolist() == [2, 0, 1]
    assert table["accuracy"].tolist() == pytest.approx([2 / 3, 0.0, 1.0])
    assert table.loc["c", "precision"] == pytest.approx(1 / 4)
    assert table.loc["b", "most often called"] == "c (2)"
    pairs = an.confused_pairs(p, k=5, class_names=["a", "b", "c"])
    assert pairs[["true", "predicted", "mistakes"]].values.tolist() == [
        ["b", "c", 2],
        ["a", "c", 1],
    ]
    assert pairs["share"].tolist() == pytest.approx([1.0, 1 / 3])
    assert an.pair_examples(p, 1, 2).tolist() == [3, 4]


def test_confident_mistakes_are_wrong_and_sorted():
    p = an.Predictions(
        probs([[0.6, 0.4], [0.1, 0.9], [0.95, 0.05], [0.2, 0.8], [0.7, 0.3]]),
        torch.tensor([1, 1, 1, 0, 0]),
    )
    assert an.confident_mistakes(p).tolist() == [2, 3, 0]
    assert an.confident_mistakes(p, k=1).tolist() == [2]


# --------------------------------------------------------------------------- TTA


def test_tta_views_are_the_ten_patches():
    img = torch.arange(2 * 28 * 28, dtype=torch.float32).reshape(2, 28, 28)
    views = an.tta_views(img, pad=2)
    assert len(views) == 10 and all(v.shape == img.shape for v in views)
    assert torch.equal(views[0], img)  # the centre crop of the padded image is the image
    assert torch.equal(views[1], img.flip(-1))
    top_left = views[2]  # crop at (0, 0): the image moves 2 pixels right and down
    assert torch.equal(top_left[:, 2:, 2:], img[:, :-2, :-2]) and (top_left[:, :2] == 0).all()
    bottom_right = views[8]
    assert torch.equal(bottom_right[:, :-2, :-2], img[:, 2:, 2:])
    assert len({tuple(v.flatten().tolist()) for v in views}) == 10  # all different
    assert len(an.tta_views(img, views="flip")) == 2 and len(an.tta_views(img, views="shift")) == 5
    with pytest.raises(ValueError, match="views"):
        an.tta_views(img, views="rotate")


def test_tta_predictions_average_the_views(images, loader):
    x, y = images
    model = Tiny()
    tta = an.tta_predictions(
        model, Images(x, y, loader.mean, loader.std), SIZE, "flip", batch_size=7
    )
    with torch.no_grad():
        a = model(preprocess(x, SIZE, loader.mean, loader.std)).softmax(1)
        b = model(preprocess(x.flip(-1), SIZE, loader.mean, loader.std)).softmax(1)
    # float32 probabilities (eps 1.2e-7): 1e-6 allows a few roundings; measured ≤ 3e-8 over 10 seeds
    assert torch.allclose(tta.probs, (a + b) / 2, atol=1e-6)
    plain = an.predictions(model, loader)
    assert torch.allclose(plain.probs, a, atol=1e-6)  # one preprocessing for both


def test_mcnemar_p_is_the_exact_two_sided_binomial_test():
    assert an.mcnemar_p(2, 1) == pytest.approx(1.0)  # 2·P(X ≤ 1), X ~ Bin(3, ½) = 2·4/8
    assert an.mcnemar_p(10, 0) == pytest.approx(2 / 2**10)
    assert an.mcnemar_p(3, 9) == an.mcnemar_p(9, 3)
    assert an.mcnemar_p(0, 0) == 1.0


def test_tta_compare_counts_fixed_and_broken():
    labels = torch.tensor([0, 1, 1, 0])
    plain = an.Predictions(torch.eye(2)[[0, 0, 0, 1]], labels)  # right, wrong, wrong, wrong
    tta = an.Predictions(torch.eye(2)[[1, 1, 1, 1]], labels)  # wrong, right, right, wrong
    row = an.tta_compare(plain, tta).iloc[0]
    assert (row["fixed"], row["broken"]) == (2, 1)
    assert row["change"] == pytest.approx(0.5 - 0.25)
    assert row["p (McNemar)"] == pytest.approx(an.mcnemar_p(2, 1))
    with pytest.raises(ValueError, match="same images"):
        an.tta_compare(plain, an.Predictions(tta.probs, labels.roll(1)))


# --------------------------------------------------------------------------- inside the model


def test_nearest_neighbours_match_brute_force():
    g = torch.Generator().manual_seed(1)
    q, gallery = torch.randn(5, 8, generator=g), torch.randn(30, 8, generator=g)
    got = an.nearest_neighbours(q, gallery, k=3)
    for i in range(5):
        d = [float(((q[i] - gallery[j]) ** 2).sum()) for j in range(30)]
        assert got[i].tolist() == sorted(range(30), key=d.__getitem__)[:3]
    self_nn = an.nearest_neighbours(gallery, gallery, k=1, exclude_self=True)
    assert (self_nn[:, 0] != torch.arange(30)).all()


def test_nearest_neighbour_labels_are_the_closest_rows_labels():
    g = torch.Generator().manual_seed(1)
    gallery, queries = torch.randn(50, 6, generator=g), torch.randn(23, 6, generator=g)
    labels = torch.arange(50) % 3
    want = labels[torch.cdist(queries, gallery).argmin(1)]
    for batch_size in (1, 5, 500):  # the batching does not change the answer
        got = an.nearest_neighbour_labels(queries, gallery, labels, batch_size=batch_size)
        assert torch.equal(got, want)
    images = torch.randint(0, 256, (8, 28, 28), generator=g, dtype=torch.uint8)
    assert torch.equal(
        an.nearest_neighbour_labels(images, images, torch.arange(8)), torch.arange(8)
    )


def test_mcnemar_test_counts_the_images_only_one_gets_right():
    labels = torch.tensor([0, 1, 2, 3, 4, 5])
    first = torch.tensor([0, 1, 2, 9, 9, 9])  # 3 right
    second = torch.tensor([0, 9, 2, 3, 4, 9])  # 4 right: 2 that first missed, 1 that it lost
    row = an.mcnemar_test(labels, first, second, names=("pixels", "fc7")).iloc[0]
    assert (row["pixels accuracy"], row["fc7 accuracy"]) == (0.5, pytest.approx(4 / 6))
    assert (row["only fc7 right"], row["only pixels right"]) == (2, 1)
    assert row["p (McNemar)"] == pytest.approx(an.mcnemar_p(2, 1))


def test_yardsticks_name_a_public_source_for_every_number():
    t = tables.read("yardsticks")
    assert list(t.columns) == ["model", "training images", "test accuracy", "source"]
    assert t["test accuracy"].between(0.5, 1).all()
    assert t["source"].str.contains("https://").all()  # a public address, not a file of ours
    assert t["source"].str.contains("Table 3").sum() >= 2  # Xiao et al. 2017's classifiers


def test_eval_loader_splits_are_lesson_07s(synthetic):
    info = {"size": 64, "mean": 0.3, "std": 0.3, "in_channels": 1}
    parts = splits(synthetic, DataConfig(size=64), batch_size=8)
    loaders = {s: an.eval_loader(synthetic, info, s) for s in an.SPLITS}
    for name in ("train", "val", "test"):
        assert torch.equal(loaders[name].images, getattr(parts, name).images)
        assert torch.equal(loaders[name].labels, getattr(parts, name).labels)
    assert len(loaders["train+val"].images) == len(loaders["train"].images) + len(
        loaders["val"].images
    )
    assert len(an.eval_loader(synthetic, info, "val", limit=5).images) == 5
    with pytest.raises(ValueError, match="split must be"):
        an.eval_loader(synthetic, info, "validation")


@pytest.mark.slow
def test_the_stand_in_is_a_briefly_trained_d2l_model_saved_as_a_run(synthetic):
    env = Setup(smoke=True, device=torch.device("cpu"), data=synthetic)
    model, info = an.train_stand_in(env, steps=1)
    assert (info["variant"], info["epoch"], info["size"]) == ("d2l", 1, 224)
    assert info["recipe"] == an.STAND_IN_RECIPE.replace(steps_per_epoch=1)
    assert "validation" in info["data"] and not model.training
    # its best.pt was loaded back like lesson 07's, and the run folder (about half a gigabyte
    # for the d2l variant) is gone: nothing is left behind in the temporary folder
    assert Path(info["path"]).name == "best.pt" and not Path(info["path"]).parent.exists()


def test_feature_maps_and_kernels_of_d2l():
    model = alexnet("d2l", seed=0)
    maps = an.feature_maps(model, torch.randn(1, 224, 224))
    rows = {row.name: row.out for row in trace(model, (1, 224, 224)).rows}
    assert list(maps) == ["conv1", "conv2", "conv3", "conv4", "conv5"]
    for name, fmap in maps.items():
        assert tuple(fmap.shape) == rows[name]
        assert fmap.min() >= 0  # after the ReLU
    kernels = an.conv1_kernels(model)
    assert kernels.shape == (96, 1, 11, 11)
    kernels.zero_()
    assert model.conv1.weight.abs().sum() > 0  # a copy, not the weights themselves
    with pytest.raises(ValueError, match="no layer"):
        an.feature_maps(model, torch.randn(1, 224, 224), layers=["conv9"])


@pytest.mark.slow
def test_a_checkpoint_gives_back_the_model_and_its_preprocessing(synthetic, tmp_path):
    recipe = Recipe(epochs=1, lr=0.01, batch_size=8, schedule="constant", label_smoothing=0.0)
    config = RunConfig(data=DataConfig(limit=(8, 1), val_share=0), recipe=recipe, seed=3)
    parts = splits(synthetic, config.data, batch_size=8)
    trained = alexnet("d2l", seed=3)
    fit(trained, parts.train, None, config, out_dir=tmp_path, report=Report(progress=False))
    model, info = load_checkpoint(tmp_path)
    assert not model.training and torch.equal(model.fc8.weight, trained.fc8.weight.cpu())
    assert (info["variant"], info["size"], info["data"]) == ("d2l", 224, parts.description)
    assert info["config"] == config
    assert (info["mean"], info["std"]) == pixel_stats(load_split(synthetic, True)[0][:8])
    assert info["recipe"] == recipe
    loader = an.eval_loader(synthetic, info, limit=10, batch_size=4)
    assert (loader.config.size, loader.mean, loader.std, len(loader.images)) == (
        224, info["mean"], info["std"], 10,
    )  # fmt: skip
