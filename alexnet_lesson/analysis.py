"""Measurements of a trained model: where it is right, where it fails, and what it learned.

Lesson 08 uses these on lesson 07's model. Everything works on the flat ``nn.Sequential`` models
of :mod:`alexnet_lesson.models` (layers named conv1 … fc8) and on batches from
:class:`alexnet_lesson.data.DeviceLoader` (or any loader of ``(images, labels)`` batches):

* :func:`eval_loader` gives the test, validation or training images with a checkpoint's
  preprocessing, and :func:`predictions` runs a model over a loader once and keeps the
  probabilities (and, if asked, the fc7 features) of every image, in the loader's order;
* :func:`per_class_table`, :func:`confusion_matrix`, :func:`confused_pairs`,
  :func:`pair_examples` and :func:`confident_mistakes` turn them into tables;
* :func:`tta_views`, :func:`tta_predictions` and :func:`tta_compare` average over flipped and
  shifted copies of each image, the paper's ten test patches (§4.1) scaled down to 28×28, and
  measure what that changes;
* :func:`nearest_neighbours` finds the training images closest in fc7 space (the paper's
  Figure 4, §6.1), :func:`nearest_neighbour_labels` uses "the label of the closest training
  image" as a classifier (in fc7 space or in pixel space), and :func:`mcnemar_test` compares two
  classifiers on the same images with the exact McNemar test (:func:`mcnemar_p`);
* :func:`conv1_kernels` and :func:`feature_maps` look inside (the paper's Figure 3 and beyond);
* :func:`train_stand_in` trains a quick stand-in to measure when there is no trained model.

One image in, the top classes out, is :mod:`alexnet_lesson.prediction`.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from alexnet_lesson.checkpoint import load_checkpoint
from alexnet_lesson.config import DataConfig, Recipe, RunConfig
from alexnet_lesson.data import (
    CLASS_NAMES,
    DeviceLoader,
    Images,
    load_split,
    preprocess,
    split_validation,
    splits,
)
from alexnet_lesson.env import eval_mode, model_device
from alexnet_lesson.report import Report
from alexnet_lesson.train import build_model, fit

__all__ = [
    "CONV_LAYERS",
    "FEATURE_LAYER",
    "SPLITS",
    "STAND_IN_RECIPE",
    "confident_mistakes",
    "confused_pairs",
    "confusion_matrix",
    "conv1_kernels",
    "eval_loader",
    "feature_maps",
    "mcnemar_p",
    "mcnemar_test",
    "nearest_neighbour_labels",
    "nearest_neighbours",
    "pair_examples",
    "per_class_table",
    "Predictions",
    "predictions",
    "train_stand_in",
    "tta_compare",
    "tta_predictions",
    "tta_views",
]

FEATURE_LAYER = "relu7"
"""The paper's Figure 4 uses "the last, 4096-dimensional hidden layer": fc7 after its ReLU."""

CONV_LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5")


# --------------------------------------------------------------------------- the images


SPLITS = ("test", "val", "train", "train+val")
"""What :func:`eval_loader` can give: the test images, the validation images lesson 07 held out,
the training images without them, or all training images."""


def eval_loader(
    files: object,
    info: dict,
    split: str = "test",
    limit: int | None = None,
    batch_size: int = 100,
    device: torch.device | str = "cpu",
) -> DeviceLoader:
    """One split's images as a non-shuffling, non-augmenting :class:`DeviceLoader` with the
    checkpoint's preprocessing.

    ``split="val"`` is the validation part that :func:`~alexnet_lesson.data.splits` holds
    out of the training images (fixed seed, the same for every run), ``"train"`` the rest, the
    images the model was trained on; ``"train+val"`` all training images. Size, channels, mean and
    std come from ``info`` (what the model was trained with), not from these images. ``limit``
    keeps the first ``limit`` images of the split.

    Example:
        >>> from alexnet_lesson.data import write_synthetic
        >>> info = {"size": 96, "mean": 0.3, "std": 0.3, "in_channels": 1}
        >>> files = write_synthetic(tempfile.mkdtemp(), 20, 10)
        >>> [len(eval_loader(files, info, s).images) for s in SPLITS]
        [10, 2, 18, 20]
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, not {split!r}")
    x, y = load_split(files, train=split != "test")
    if split in ("train", "val"):
        (x, y), (xval, yval) = split_validation(x, y)
        if split == "val":
            x, y = xval, yval
    if limit is not None:
        x, y = x[:limit], y[:limit]
    config = DataConfig(size=int(info["size"]), channels=int(info.get("in_channels") or 1))
    part = Images(x, y, float(info["mean"]), float(info["std"]))
    return DeviceLoader(part, config, batch_size, device)


# --------------------------------------------------------------------------- predictions


@dataclass
class Predictions:
    """What a model said about every image of a loader, in the loader's order.

    Attributes:
        probs: N×classes softmax probabilities (float32, CPU).
        labels: the N true labels.
        features: N×4096 fc7 features when :func:`predictions` was asked for them, else None.
    """

    probs: torch.Tensor
    labels: torch.Tensor
    features: torch.Tensor | None = None

    @property
    def preds(self) -> torch.Tensor:
        """The predicted class of each image (the most probable one)."""
        return self.probs.argmax(1)

    @property
    def confidence(self) -> torch.Tensor:
        """The probability the model gave its own prediction."""
        return self.probs.max(1).values

    @property
    def correct(self) -> torch.Tensor:
        """True where the prediction is the label."""
        return self.preds == self.labels

    @property
    def accuracy(self) -> float:
        """Top-1 accuracy: the share of images whose most probable class is the label."""
        return float(self.correct.float().mean()) if len(self.labels) else float("nan")

    def top_k_accuracy(self, k: int = 5) -> float:
        """The share of images whose label is among the ``k`` most probable classes."""
        top = self.probs.topk(k, dim=1).indices
        return float((top == self.labels[:, None]).any(1).float().mean())

    def __len__(self) -> int:
        return len(self.labels)


def predictions(
    model: nn.Module,
    loader: Iterable,
    features: bool = False,
    feature_layer: str = FEATURE_LAYER,
) -> Predictions:
    """Run ``model`` over every batch of ``loader`` (in eval mode, no gradients) and keep the results.

    The loader must not shuffle, so that row ``i`` is image ``i`` of its data set (a
    :class:`~alexnet_lesson.data.DeviceLoader` that is not a ``train`` loader, as the test loader is).

    Args:
        features: also keep the output of ``feature_layer`` (default fc7 after its ReLU, the paper's
            Figure 4 features), flattened to one row per image.

    Example:
        >>> from alexnet_lesson.data import DeviceLoader
        >>> from alexnet_lesson.data import Images
        >>> part = Images(torch.zeros(6, 28, 28, dtype=torch.uint8), torch.arange(6))
        >>> loader = DeviceLoader(part, DataConfig(size=32), 4)
        >>> net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        ...                     nn.Linear(4, 10))
        >>> p = predictions(net, loader, features=True, feature_layer="3")  # the Flatten's output
        >>> tuple(p.probs.shape), tuple(p.features.shape)
        ((6, 10), (6, 4))
    """
    if getattr(loader, "train", False):
        raise ValueError(
            "this loader shuffles, so predictions would not line up with its images; "
            "use an evaluation loader (e.g. the test loader of alexnet_lesson.data.splits)"
        )
    device = model_device(model)
    kept: list[torch.Tensor] = []
    hook = None
    if features:
        layer = getattr(model, feature_layer, None)
        if layer is None:
            raise ValueError(f"the model has no layer named {feature_layer!r}")
        hook = layer.register_forward_hook(lambda m, i, o: kept.append(o.detach().flatten(1).cpu()))
    probs, labels = [], []
    try:
        with eval_mode(model), torch.no_grad():
            for x, y in loader:
                logits = model(x.to(device))
                probs.append(logits.float().softmax(1).cpu())
                labels.append(y.cpu())
    finally:
        if hook is not None:
            hook.remove()
    return Predictions(
        probs=torch.cat(probs) if probs else torch.zeros(0, 0),
        labels=torch.cat(labels).long() if labels else torch.zeros(0, dtype=torch.long),
        features=torch.cat(kept).float() if features and kept else None,
    )


# --------------------------------------------------------------------------- tables


def confusion_matrix(
    labels: torch.Tensor | Sequence[int],
    preds: torch.Tensor | Sequence[int],
    num_classes: int = 10,
    normalize: bool = False,
) -> np.ndarray:
    """Counts of (true class, predicted class): row = the truth, column = what the model said.

    With ``normalize=True`` each row is divided by its total, so row ``i`` reads "of the images of
    class i, which share went to each class" and the diagonal is the per-class accuracy.

    Example:
        >>> confusion_matrix([0, 0, 1, 1], [0, 1, 1, 1], num_classes=2)
        array([[1, 1],
               [0, 2]])
    """
    labels = torch.as_tensor(labels).long().flatten()
    preds = torch.as_tensor(preds).long().flatten()
    counts = torch.bincount(labels * num_classes + preds, minlength=num_classes**2)
    cm = counts.reshape(num_classes, num_classes).numpy()
    if not normalize:
        return cm
    totals = cm.sum(1, keepdims=True)
    return np.divide(cm, totals, out=np.zeros(cm.shape), where=totals > 0)


def per_class_table(p: Predictions, class_names: Sequence[str] = CLASS_NAMES) -> pd.DataFrame:
    """Per class: how many test images, how many right, accuracy, and the class most often mistaken for.

    Precision is also given: of the images the model called this class, the share that were.

    Example:
        >>> p = Predictions(torch.eye(3)[[0, 1, 1]], torch.tensor([0, 1, 2]))
        >>> per_class_table(p, ["a", "b", "c"])["accuracy"].tolist()
        [1.0, 1.0, 0.0]
    """
    n = len(class_names)
    cm = confusion_matrix(p.labels, p.preds, n)
    rows = []
    for c, name in enumerate(class_names):
        total, right, called = int(cm[c].sum()), int(cm[c, c]), int(cm[:, c].sum())
        off = cm[c].copy()
        off[c] = 0
        worst = int(off.argmax())
        rows.append(
            {
                "class": name,
                "images": total,
                "correct": right,
                "accuracy": right / total if total else float("nan"),
                "precision": right / called if called else float("nan"),
                "most often called": f"{class_names[worst]} ({off[worst]})" if off[worst] else "–",
            }
        )
    return pd.DataFrame(rows).set_index("class")


def confused_pairs(
    p: Predictions, k: int = 5, class_names: Sequence[str] = CLASS_NAMES
) -> pd.DataFrame:
    """The ``k`` (true, predicted) pairs with the most mistakes, largest first.

    ``share`` is the fraction of the true class's images that went to the predicted class.

    Example:
        >>> p = Predictions(torch.eye(2)[[1, 1, 0]], torch.tensor([0, 0, 1]))
        >>> row = confused_pairs(p, k=1, class_names=["a", "b"]).iloc[0]
        >>> row["true"], row["predicted"], int(row["mistakes"]), float(row["share"])
        ('a', 'b', 2, 1.0)
    """
    n = len(class_names)
    cm = confusion_matrix(p.labels, p.preds, n)
    totals = cm.sum(1)
    pairs = [(int(cm[t, q]), -t, -q) for t in range(n) for q in range(n) if t != q and cm[t, q]]
    pairs.sort(reverse=True)
    rows = [
        {
            "true": class_names[-t],
            "predicted": class_names[-q],
            "mistakes": count,
            "share": float(count / totals[-t]),
        }
        for count, t, q in pairs[:k]
    ]
    return pd.DataFrame(rows, columns=["true", "predicted", "mistakes", "share"])


def pair_examples(p: Predictions, true: int, predicted: int, k: int = 8) -> torch.Tensor:
    """Indices of up to ``k`` images of class ``true`` predicted as ``predicted``, most confident first.

    Example:
        >>> p = Predictions(torch.tensor([[0.2, 0.8], [0.4, 0.6]]), torch.tensor([0, 0]))
        >>> pair_examples(p, 0, 1).tolist()
        [0, 1]
    """
    idx = torch.nonzero((p.labels == true) & (p.preds == predicted))[:, 0]
    order = p.confidence[idx].argsort(descending=True, stable=True)
    return idx[order][:k]


def confident_mistakes(p: Predictions, k: int = 12) -> torch.Tensor:
    """Indices of the ``k`` wrong predictions the model was surest of, most confident first.

    Example:
        >>> p = Predictions(torch.tensor([[0.9, 0.1], [0.3, 0.7], [0.4, 0.6]]), torch.tensor([1, 0, 0]))
        >>> confident_mistakes(p).tolist()
        [0, 1, 2]
    """
    idx = torch.nonzero(~p.correct)[:, 0]
    order = p.confidence[idx].argsort(descending=True, stable=True)
    return idx[order][:k]


# --------------------------------------------------------------------------- is a difference real?


def mcnemar_p(fixed: int, broken: int) -> float:
    """Exact two-sided McNemar test: how likely a split at least this uneven is by chance.

    ``fixed`` images went from wrong to right, ``broken`` from right to wrong; if the change did
    nothing, each of these ``fixed + broken`` flips is a fair coin.

    Example:
        >>> mcnemar_p(0, 0), round(mcnemar_p(10, 0), 4)
        (1.0, 0.002)
    """
    n = fixed + broken
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(fixed, broken) + 1)) / 2**n
    return min(1.0, 2 * tail)


def mcnemar_test(
    labels: torch.Tensor,
    first: torch.Tensor,
    second: torch.Tensor,
    names: tuple[str, str] = ("first", "second"),
) -> pd.DataFrame:
    """McNemar's test of two classifiers' predictions on the same images: both accuracies, the
    images only one of them gets right, and the exact McNemar p-value of that split
    (:func:`mcnemar_p`).

    Example:
        >>> t = mcnemar_test(torch.tensor([0, 1, 1]), torch.tensor([0, 0, 1]),
        ...                  torch.tensor([0, 1, 1]), names=("a", "b"))
        >>> t[["a accuracy", "b accuracy", "only b right", "only a right"]].iloc[0].tolist()
        [0.6666666666666666, 1.0, 1.0, 0.0]
    """
    a, b = first == labels, second == labels
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    return pd.DataFrame(
        [
            {
                "images": len(labels),
                f"{names[0]} accuracy": float(a.double().mean()),
                f"{names[1]} accuracy": float(b.double().mean()),
                "change": float(b.double().mean() - a.double().mean()),
                f"only {names[1]} right": only_b,
                f"only {names[0]} right": only_a,
                "p (McNemar)": mcnemar_p(only_b, only_a),
            }
        ]
    )


# --------------------------------------------------------------------------- test-time augmentation


def tta_views(images: torch.Tensor, pad: int = 2, views: str = "ten") -> list[torch.Tensor]:
    """Shifted and mirrored copies of a batch of 28×28 images, the paper's test patches (§4.1) in small.

    The paper averaged ten 224×224 patches of a 256×256 image: the four corners, the centre, and
    their mirror images. Here the image is padded with ``pad`` black pixels and cropped back to
    28×28 at the four corners and the centre (shifts of ±``pad`` pixels, as training's
    augmentation does), each also flipped left-right.

    Args:
        views: ``"ten"`` (5 crops × 2 flips), ``"flip"`` (the image and its mirror) or ``"shift"``
            (the 5 crops, no mirror).

    Example:
        >>> [tuple(v.shape) for v in tta_views(torch.zeros(3, 28, 28, dtype=torch.uint8))][:2]
        [(3, 28, 28), (3, 28, 28)]
        >>> len(tta_views(torch.zeros(3, 28, 28)))
        10
    """
    if views not in {"ten", "flip", "shift"}:
        raise ValueError(f"views must be 'ten', 'flip' or 'shift', not {views!r}")
    h, w = images.shape[-2:]
    if views == "flip":
        return [images, images.flip(-1)]
    padded = F.pad(images, (pad, pad, pad, pad))
    offsets = [(pad, pad), (0, 0), (0, 2 * pad), (2 * pad, 0), (2 * pad, 2 * pad)]
    crops = [padded[..., r : r + h, c : c + w] for r, c in offsets]
    if views == "shift":
        return crops
    return [v for crop in crops for v in (crop, crop.flip(-1))]


def tta_predictions(
    model: nn.Module,
    part: Images,
    size: int,
    views: str = "ten",
    pad: int = 2,
    batch_size: int = 64,
) -> Predictions:
    """Predictions averaged over :func:`tta_views` of each image (softmax probabilities averaged).

    Args:
        part: uint8 N×28×28 images and their labels (e.g. the test loader's), with the mean and
            std the model was trained with (from the checkpoint's info).
        size: the model's input size (from the checkpoint's info).

    Example:
        >>> net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        ...                     nn.Linear(4, 10))
        >>> two = Images(torch.zeros(2, 28, 28, dtype=torch.uint8), torch.tensor([0, 1]), 0.3, 0.3)
        >>> p = tta_predictions(net, two, size=32, views="flip")
        >>> tuple(p.probs.shape), round(float(p.probs.sum()), 4)
        ((2, 10), 2.0)
    """
    device = model_device(model)
    channels = getattr(model, "in_channels", 1)
    images, labels, mean, std = part
    out = []
    with eval_mode(model), torch.no_grad():
        for start in range(0, len(images), batch_size):
            batch = images[start : start + batch_size].to(device)
            total = 0
            for view in tta_views(batch, pad, views):
                x = preprocess(view, size, mean, std, channels)
                total = total + model(x).float().softmax(1)
            out.append((total / len(tta_views(batch[:1], pad, views))).cpu())
    return Predictions(probs=torch.cat(out), labels=torch.as_tensor(labels).long().cpu())


def tta_compare(plain: Predictions, tta: Predictions) -> pd.DataFrame:
    """Plain versus test-time-augmented accuracy on the same images, with what changed.

    ``fixed``: wrong → right; ``broken``: right → wrong; ``p (McNemar)``: the chance of a split at
    least that uneven if averaging changed nothing (small p: a real effect; large: noise).

    Example:
        >>> a = Predictions(torch.eye(2)[[0, 0, 1]], torch.tensor([0, 1, 1]))
        >>> b = Predictions(torch.eye(2)[[0, 1, 1]], torch.tensor([0, 1, 1]))
        >>> tta_compare(a, b)[["images", "fixed", "broken"]].iloc[0].tolist()
        [3, 1, 0]
    """
    if not torch.equal(plain.labels, tta.labels):
        raise ValueError("plain and tta predictions must be for the same images in the same order")
    fixed = int((~plain.correct & tta.correct).sum())
    broken = int((plain.correct & ~tta.correct).sum())
    return pd.DataFrame(
        [
            {
                "images": len(plain),
                "plain accuracy": plain.accuracy,
                "TTA accuracy": tta.accuracy,
                "change": tta.accuracy - plain.accuracy,
                "fixed": fixed,
                "broken": broken,
                "p (McNemar)": mcnemar_p(fixed, broken),
            }
        ]
    )


# --------------------------------------------------------------------------- looking inside


def nearest_neighbours(
    queries: torch.Tensor, gallery: torch.Tensor, k: int = 5, exclude_self: bool = False
) -> torch.Tensor:
    """For each query row, the indices of the ``k`` gallery rows closest in Euclidean distance.

    The paper's Figure 4 compares fc7 vectors this way. ``exclude_self`` skips a distance of
    exactly zero at the same index (use it when the queries are the gallery).

    Example:
        >>> g = torch.tensor([[0.0], [1.0], [5.0]])
        >>> nearest_neighbours(torch.tensor([[0.9]]), g, k=2).tolist()
        [[1, 0]]
    """
    d = torch.cdist(queries.float(), gallery.float())
    if exclude_self:
        n = min(d.shape)
        d[torch.arange(n), torch.arange(n)] = float("inf")
    return d.topk(k, dim=1, largest=False).indices


def nearest_neighbour_labels(
    queries: torch.Tensor,
    gallery: torch.Tensor,
    gallery_labels: torch.Tensor,
    batch_size: int = 500,
) -> torch.Tensor:
    """1-nearest-neighbour classification: for each query, the label of its closest gallery row
    (Euclidean distance).

    Rows may be anything of one length: fc7 features (4096 numbers an image) or raw pixels
    (a 28×28 image counts as 784 numbers). Queries are handled ``batch_size`` at a time, so a
    large gallery fits in memory.

    Example:
        >>> gallery, labels = torch.tensor([[0.0], [10.0]]), torch.tensor([0, 1])
        >>> nearest_neighbour_labels(torch.tensor([[1.0], [9.0], [2.0]]), gallery, labels).tolist()
        [0, 1, 0]
    """
    gallery = gallery.flatten(1).float()
    queries = queries.flatten(1).float()
    found = [
        gallery_labels[nearest_neighbours(queries[i : i + batch_size], gallery, k=1)[:, 0]]
        for i in range(0, len(queries), batch_size)
    ]
    return torch.cat(found) if found else torch.zeros(0, dtype=torch.long)


def conv1_kernels(model: nn.Module) -> torch.Tensor:
    """conv1's weights as a (kernels, channels, height, width) CPU tensor (96×1×11×11 for d2l).

    Example:
        >>> from alexnet_lesson.models import alexnet
        >>> from alexnet_lesson.models import alexnet
        >>> tuple(conv1_kernels(alexnet("d2l")).shape)
        (96, 1, 11, 11)
    """
    return model.conv1.weight.detach().float().cpu().clone()


def feature_maps(
    model: nn.Module, x: torch.Tensor, layers: Sequence[str] = CONV_LAYERS
) -> dict[str, torch.Tensor]:
    """The activation maps of ``layers`` (after each layer's ReLU) for one preprocessed image.

    Args:
        x: one image as the model takes it, C×H×W or 1×C×H×W.

    Returns:
        {layer name: channels×H×W tensor}, e.g. conv1 → 96×54×54 for d2l at 224.

    Example:
        >>> from alexnet_lesson.models import alexnet
        >>> from alexnet_lesson.models import alexnet
        >>> maps = feature_maps(alexnet("d2l"), torch.zeros(1, 224, 224))
        >>> {k: tuple(v.shape) for k, v in maps.items()}["conv5"]
        (256, 12, 12)
    """
    if x.dim() == 3:
        x = x.unsqueeze(0)
    names = dict(model.named_children())
    maps: dict[str, torch.Tensor] = {}
    hooks = []
    for name in layers:
        if name not in names:
            raise ValueError(f"the model has no layer named {name!r}")
        relu = "relu" + name[len("conv") :] if name.startswith("conv") else name
        target = names.get(relu, names[name])
        hooks.append(
            target.register_forward_hook(
                lambda m, i, o, name=name: maps.__setitem__(name, o.detach()[0].clone().cpu())
            )
        )
    try:
        with eval_mode(model), torch.no_grad():
            model(x.to(model_device(model)))
    finally:
        for h in hooks:
            h.remove()
    return {name: maps[name] for name in layers}


# --------------------------------------------------------------------------- a stand-in model


STAND_IN_RECIPE = Recipe(epochs=1, batch_size=32, lr=0.01, schedule="constant", label_smoothing=0.0)
"""The stand-in's recipe: one epoch of plain SGD (see :func:`train_stand_in`)."""


def train_stand_in(env: object, steps: int | None = None) -> tuple[nn.Module, dict]:
    """A quickly trained d2l model, to measure where no trained model is at hand.

    Lesson 08 measures the model lesson 07 saved; without that run (lesson 07 not run, or lesson
    08 tested on its own) it measures this stand-in instead, so that every cell still runs. It is
    the d2l variant (seed 0) trained by :func:`alexnet_lesson.train.fit` with
    :data:`STAND_IN_RECIPE` for ``steps`` batches of 32 (default 32, i.e. 1,024 images, in full
    mode; 2 in smoke mode, on the first 64 training images), with the validation split lesson 07
    holds out; its best.pt goes to a new temporary folder, is loaded back, and the folder is
    removed.

    Args:
        env: what :func:`alexnet_lesson.setup` returns (smoke, device, data).

    Returns:
        The model (in eval mode, on ``env.device``) and its checkpoint info, as
        :func:`~alexnet_lesson.train.load_checkpoint` gives them.

    Example:
        >>> from alexnet_lesson.data import write_synthetic
        >>> from alexnet_lesson.session import Setup
        >>> env = Setup(smoke=True, device=torch.device("cpu"), data=write_synthetic(tempfile.mkdtemp(), 20, 10))
        >>> model, info = train_stand_in(env, steps=1)
        >>> info["variant"], info["epoch"], info["recipe"].steps_per_epoch
        ('d2l', 1, 1)
    """
    if steps is None:
        steps = 2 if env.smoke else 32
    limit = (64, 16) if env.smoke else (None, None)
    config = RunConfig(
        data=DataConfig(limit=limit), recipe=STAND_IN_RECIPE.replace(steps_per_epoch=steps)
    )
    parts = splits(env.data, config.data, config.recipe.batch_size, env.device)
    out = tempfile.mkdtemp(prefix="alexnet-lesson-stand-in-")
    try:  # the run folder (half a gigabyte of checkpoints) is gone once best.pt is loaded back
        model = build_model(config).to(env.device)  # the d2l variant, seed 0
        fit(model, parts.train, parts.val, config, out_dir=out, report=Report(progress=False))
        return load_checkpoint(out, device=env.device)
    finally:
        shutil.rmtree(out, ignore_errors=True)
