"""One image in, the most probable classes out: a trained model used on a picture of your own.

Lesson 08 ends with it, and the package exports :func:`predict` at its front as ``al.predict``.
The image goes through the preprocessing the model was trained with (grey 28×28, upsampled with
bilinear interpolation to the model's input size, normalised with the training set's mean and
std); :func:`to_grey28` shows the 28×28 picture that :func:`predict` classifies. To classify a
whole loader at once, use :func:`alexnet_lesson.analysis.predictions`.

(The module is not named ``predict``: importing a submodule sets the package attribute of its
name, which would replace the function ``al.predict`` with the module.)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from alexnet_lesson.data import CLASS_NAMES, preprocess
from alexnet_lesson.env import eval_mode, model_device

__all__ = ["GREY_FROM_RGB", "predict", "to_grey28"]


GREY_FROM_RGB = "L = 0.299 R + 0.587 G + 0.114 B"
"""How colour images become grey (ITU-R BT.601 luma, what PIL's ``convert("L")`` does)."""


def _normalisation(info: dict | None, mean: float | None, std: float | None) -> tuple[float, float]:
    if mean is not None and std is not None:
        return float(mean), float(std)
    if info:
        for key in ("normalization", "normalisation", "normalize", "norm"):
            value = info.get(key)
            if isinstance(value, dict) and "mean" in value:
                return float(value["mean"]), float(value["std"])
            if isinstance(value, list | tuple) and len(value) == 2:
                return float(value[0]), float(value[1])
        if "mean" in info and "std" in info:
            return float(info["mean"]), float(info["std"])
    raise ValueError(
        "predict needs the normalisation the model was trained with: pass info= (the second "
        "value load_checkpoint returns) or mean= and std= (e.g. from alexnet_lesson.data.pixel_stats)"
    )


def _from_path(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    if not path.exists():
        raise FileNotFoundError(f"no file at {path}; check the path (relative to {Path.cwd()})")
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; pass the path of one image file")
    try:
        with Image.open(path) as img:
            img.load()
            return _from_pil(img)
    except UnidentifiedImageError:
        raise ValueError(
            f"{path} is not an image file Pillow can read; pass a PNG or JPEG file, "
            "a PIL image, or a 28×28 array"
        ) from None


def _from_pil(img: object) -> np.ndarray:
    """A PIL image of any size and mode → grey 28×28 float array in [0, 1], upright: a phone
    photo's EXIF orientation tag is applied, as photo viewers do."""
    from PIL import Image, ImageOps

    img = ImageOps.exif_transpose(img)

    if img.mode in {"RGBA", "LA", "PA"} or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        img = Image.alpha_composite(black, rgba)  # transparent parts become the black background
    if img.mode.startswith("I;16"):  # 16-bit grey: keep the top 8 bits
        img = Image.fromarray((np.asarray(img, dtype=np.uint16) >> 8).astype(np.uint8))
    grey = img.convert("L")  # colour → luma, GREY_FROM_RGB
    w, h = grey.size
    if w != h:  # pad the short side with the colour of the image's border, to keep the shape
        edge = np.concatenate(
            [np.asarray(grey)[[0, -1], :].ravel(), np.asarray(grey)[:, [0, -1]].ravel()]
        )
        square = Image.new("L", (max(w, h), max(w, h)), int(np.median(edge)))
        square.paste(grey, ((max(w, h) - w) // 2, (max(w, h) - h) // 2))
        grey = square
    if grey.size != (28, 28):
        grey = grey.resize((28, 28), Image.Resampling.BILINEAR, reducing_gap=None)
    return np.asarray(grey, dtype=np.float32) / 255


def _from_array(image: np.ndarray | torch.Tensor) -> np.ndarray:
    """A 28×28 (or 1×28×28) uint8 0-255 or float 0-1 array → float 28×28 array in [0, 1]."""
    if torch.is_tensor(image):
        image = image.detach().cpu()
        arr = (image.float() if image.is_floating_point() else image).numpy()
    else:
        arr = np.asarray(image)
    shape = tuple(arr.shape)
    if arr.ndim == 3 and 3 in (shape[0], shape[-1]) or arr.ndim == 3 and 4 in (shape[0], shape[-1]):
        raise ValueError(
            f"got a colour array of shape {shape}, but the model takes grey images; convert it "
            "first, e.g. PIL.Image.fromarray(rgb).convert('L') (or pass the PIL image or the file, "
            f"which predict converts with {GREY_FROM_RGB})"
        )
    if arr.ndim == 3 and shape[0] == 1:
        arr = arr[0]
    elif arr.ndim == 3 and shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim == 3:
        raise ValueError(
            f"predict takes one image, got an array of shape {shape}; pass image[i] for one of them, "
            "or use alexnet_lesson.analysis.predictions for a whole loader"
        )
    if arr.shape != (28, 28):
        raise ValueError(
            f"arrays and tensors must be 28×28 like Fashion-MNIST, got shape {shape}; for another "
            "size pass a PIL image or an image file, which predict resizes"
        )
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all():
            raise ValueError("the image contains NaN or infinite values")
        if arr.min() < 0 or arr.max() > 1:
            raise ValueError(
                f"float images must hold values in 0-1, got {arr.min():.3g} to {arr.max():.3g}; "
                "divide 0-255 values by 255 (or pass uint8). Pass raw pixels, not normalised ones: "
                "predict normalises them itself"
            )
        return arr.astype(np.float32)
    raise TypeError(
        f"unsupported dtype {arr.dtype}: pass uint8 (0-255) or float (0-1) pixels, "
        "e.g. image.astype(np.uint8) for whole numbers 0-255"
    )


def to_grey28(image: object, invert: bool | str = "auto") -> np.ndarray:
    """Any input :func:`predict` accepts → the 28×28 float image (0 black … 1 white) it will classify.

    Fashion-MNIST garments are light on a black background. ``invert="auto"`` flips an image whose
    border is mostly light (mean of the outermost pixels above 0.5), such as a photo of a garment
    on a white table; ``True`` or ``False`` decide yourself.

    Example:
        >>> to_grey28(np.full((28, 28), 255, dtype=np.uint8)).max()  # all white: inverted to black
        np.float32(0.0)
    """
    if isinstance(image, str | os.PathLike):
        grey = _from_path(Path(image))
    elif type(image).__module__.startswith("PIL."):
        grey = _from_pil(image)
    elif isinstance(image, np.ndarray | torch.Tensor):
        grey = _from_array(image)
    else:
        raise TypeError(
            f"predict takes an image file path, a PIL image, or a 28×28 numpy array or torch "
            f"tensor; got {type(image).__name__}"
        )
    if invert not in (True, False, "auto"):
        raise ValueError(f"invert must be True, False or 'auto', not {invert!r}")
    if invert == "auto":
        border = np.concatenate([grey[[0, -1], :].ravel(), grey[:, [0, -1]].ravel()])
        invert = bool(border.mean() > 0.5)
    return 1.0 - grey if invert else grey


def predict(
    model: nn.Module,
    image: object,
    k: int = 5,
    info: dict | None = None,
    mean: float | None = None,
    std: float | None = None,
    invert: bool | str = "auto",
    class_names: Sequence[str] = CLASS_NAMES,
) -> list[tuple[str, float]]:
    """Classify one image; return the ``k`` most probable (class name, probability) pairs.

    ``image`` may be:

    * a 28×28 (or 1×28×28) numpy array or torch tensor, ``uint8`` 0-255 or float 0-1 (raw
      pixels, as in Fashion-MNIST: white garment on black);
    * a PIL image or an image file path (PNG, JPEG, …) of any size: colour is turned grey with
      ``L = 0.299 R + 0.587 G + 0.114 B`` (transparent areas become black), a non-square image is
      padded to a square with its border colour, and it is shrunk to 28×28.

    Then the training preprocessing: scale to [0, 1], upsample to the model's input size
    (``info["size"]``, else ``model.input_size``) with bilinear interpolation, normalise with the training set's mean and
    std (from ``info``, the checkpoint's info, or ``mean=`` and ``std=``). A light background is
    inverted (``invert="auto"``, see :func:`to_grey28`). Bad input raises an error that says what
    to pass instead: ``FileNotFoundError``, ``ValueError`` (shape, colour array, value range, not
    an image) or ``TypeError`` (dtype, type).

    Example:
        >>> from alexnet_lesson.models import alexnet
        >>> model = alexnet("d2l", seed=0)
        >>> top = predict(model, np.zeros((28, 28), np.uint8), k=3, mean=0.29, std=0.35)
        >>> len(top), isinstance(top[0][0], str), 0 <= top[0][1] <= 1
        (3, True, True)
    """
    classes = len(class_names)
    if not 1 <= k <= classes:
        raise ValueError(f"k must be between 1 and {classes}, got {k}")
    m, s = _normalisation(info, mean, std)
    grey = to_grey28(image, invert)
    size = int((info or {}).get("size") or getattr(model, "input_size", None) or 224)
    channels = int(getattr(model, "in_channels", 1))
    x = preprocess(torch.from_numpy(grey)[None, None].to(model_device(model)), size, m, s, channels)
    with eval_mode(model), torch.no_grad():
        probs = model(x).float().softmax(1)[0].cpu()
    top = probs.topk(k)
    return [(class_names[int(i)], float(v)) for v, i in zip(top.values, top.indices, strict=True)]
