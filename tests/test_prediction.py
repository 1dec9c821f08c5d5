"""One image in, the top classes out (lesson 08): the training preprocessing, every kind of input
predict accepts, and the errors that say what to pass instead."""

import numpy as np
import pytest
import torch
from nets import TINY_SIZE, Tiny
from PIL import Image

from alexnet_lesson.data import CLASS_NAMES, pixel_stats, preprocess
from alexnet_lesson.models import alexnet
from alexnet_lesson.prediction import predict, to_grey28

SIZE = TINY_SIZE


@pytest.fixture(scope="module")
def norm(images):
    return dict(zip(("mean", "std"), pixel_stats(images[0]), strict=True))


def test_predict_uses_the_training_preprocessing(images, norm):
    model = Tiny()
    x = images[0]
    with torch.no_grad():  # what analysis.predictions and the trainer's loaders compute
        want = model(preprocess(x, SIZE, norm["mean"], norm["std"])).softmax(1)
    for i in (0, 7, 23):
        top = predict(model, x[i], k=10, **norm)
        got = {name: prob for name, prob in top}
        assert [got[c] for c in CLASS_NAMES] == pytest.approx(want[i].tolist(), abs=1e-6)
        assert [prob for _, prob in top] == sorted((prob for _, prob in top), reverse=True)


def test_predict_accepts_arrays_tensors_pil_and_files(images, norm, tmp_path):
    model = Tiny()
    img = images[0][5].numpy()
    want = predict(model, img, **norm)
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
        got = predict(model, image, **norm)
        assert [n for n, _ in got] == [n for n, _ in want]
        assert [v for _, v in got] == pytest.approx([v for _, v in want], abs=1e-5)
    info = {"mean": norm["mean"], "std": norm["std"], "size": SIZE}
    assert predict(model, img, info=info) == want
    assert len(predict(model, img, k=1, **norm)) == 1
    # bfloat16 keeps 8 significant bits: pixels move by up to 2⁻⁹ relative; the probabilities
    # moved by ≤ 6e-5 over 10 seeds (model and image)
    half = (torch.from_numpy(img) / 255).to(torch.bfloat16)  # numpy has no bfloat16
    got, full = (
        dict(predict(model, half, k=10, **norm)),
        dict(predict(model, img, k=10, **norm)),
    )
    assert [got[c] for c in CLASS_NAMES] == pytest.approx([full[c] for c in CLASS_NAMES], abs=1e-2)


def test_predict_converts_colour_photos_of_any_size(norm, tmp_path):
    photo = np.full((90, 60, 3), 250, np.uint8)  # a light background, portrait, colour
    photo[20:70, 15:45] = (200, 30, 30)  # a red garment
    grey = to_grey28(Image.fromarray(photo))
    assert grey.shape == (28, 28) and grey.dtype == np.float32
    assert grey[0].max() < 0.05  # white background inverted to black
    luma = (0.299 * 200 + 0.587 * 30 + 0.114 * 30) / 255
    assert grey[14, 14] == pytest.approx(1 - luma, abs=0.02)
    rgba = np.zeros((28, 28, 4), np.uint8)  # fully transparent: the black background
    assert to_grey28(Image.fromarray(rgba, "RGBA")).max() == 0
    Image.fromarray(photo).save(tmp_path / "photo.jpg")
    assert len(predict(Tiny(), tmp_path / "photo.jpg", **norm)) == 5


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
        predict(Tiny(), image, **norm)


def test_predict_bad_files_and_arguments(tmp_path, norm):
    model = Tiny()
    with pytest.raises(FileNotFoundError, match="no file"):
        predict(model, tmp_path / "missing.png", **norm)
    fake = tmp_path / "notes.png"
    fake.write_text("not an image")
    with pytest.raises(ValueError, match="not an image"):
        predict(model, fake, **norm)
    with pytest.raises(IsADirectoryError, match="folder"):
        predict(model, tmp_path, **norm)
    img = np.zeros((28, 28), np.uint8)
    with pytest.raises(ValueError, match="normalisation"):
        predict(model, img)
    with pytest.raises(ValueError, match="k must be"):
        predict(model, img, k=11, **norm)
    with pytest.raises(ValueError, match="invert"):
        predict(model, img, invert="maybe", **norm)


def test_predict_on_alexnet_d2l():
    model = alexnet("d2l", seed=0)
    top = predict(model, np.zeros((28, 28), np.uint8), k=10, mean=0.29, std=0.35)
    assert sorted(n for n, _ in top) == sorted(CLASS_NAMES)
    assert sum(p for _, p in top) == pytest.approx(1.0, abs=1e-5)


def test_a_photo_is_turned_upright_by_its_exif_orientation(tmp_path):
    upright = np.zeros((40, 28), np.uint8)
    upright[:10, :] = 255  # a bright band at the top
    sideways = np.rot90(upright, k=1).copy()  # as a phone sensor stored it: 28 tall, 40 wide
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation 6: rotate 90° clockwise to view
    Image.fromarray(sideways).save(tmp_path / "photo.png", exif=exif)
    Image.fromarray(upright).save(tmp_path / "upright.png")
    got, want = (
        to_grey28(tmp_path / "photo.png", invert=False),
        to_grey28(tmp_path / "upright.png", invert=False),
    )
    assert np.allclose(got, want, atol=1 / 255) and got[:5].mean() > got[-5:].mean() + 0.5
