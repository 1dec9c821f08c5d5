"""The command line after training: ``predict`` classifies image files with a run, ``export``
writes it as TorchScript and ONNX and checks both; bad input gets one line and exit status 1."""

import os

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from alexnet_lesson import cli, data
from alexnet_lesson.checkpoint import load_checkpoint
from alexnet_lesson.export import onnx_available

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run_dir(synthetic, tmp_path_factory):
    """A d2l run of one step on synthetic images, trained through the command line."""
    out = tmp_path_factory.mktemp("cli-run") / "run"
    flags = ["train", "--device", "cpu", "--variant", "d2l", "--data", str(synthetic.root),
             "--limit", "32", "16", "--batch-size", "8", "--steps-per-epoch", "1", "--epochs",
             "1", "--out", str(out)]  # fmt: skip
    assert cli.main(flags) == 0
    return out


@pytest.fixture(scope="module")
def garments(synthetic, tmp_path_factory):
    """Two test images as PNG files, and a file that is not an image."""
    folder = tmp_path_factory.mktemp("images")
    images, _ = data.load_split(synthetic, train=False)
    paths = []
    for i in range(2):
        paths.append(folder / f"garment{i}.png")
        Image.fromarray(images[i].numpy()).save(paths[-1])
    (folder / "notes.txt").write_text("not an image")
    return paths, folder / "notes.txt"


def test_predict_prints_the_top_classes_of_each_image(run_dir, garments, capsys):
    paths, _ = garments
    assert cli.main(["predict", *map(str, paths), "--run", str(run_dir), "--top", "4"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == [str(p) for p in paths]
    probs = [float(part.rsplit(" ", 1)[1]) for part in lines[0].split(": ", 1)[1].split(", ")]
    assert len(probs) == 4 and probs == sorted(probs, reverse=True) and sum(probs) <= 1.001
    model, info = load_checkpoint(run_dir)
    x = data.preprocess(torch.from_numpy(np.array(Image.open(paths[0])))[None], info["size"],
                        info["mean"], info["std"])  # fmt: skip
    with torch.no_grad():
        expected = model(x).softmax(1)[0].max().item()
    assert probs[0] == pytest.approx(expected, abs=6e-4)  # the run's own preprocessing


def test_predict_bad_input_gets_one_line_each_and_status_1(run_dir, garments, capsys, tmp_path):
    paths, text = garments
    status = cli.main(["predict", str(text), str(tmp_path / "gone.png"), str(paths[0]),
                       "--run", str(run_dir)])  # fmt: skip
    out, err = capsys.readouterr()
    assert status == 1 and out.startswith(f"{paths[0]}: ")  # the good image is still classified
    assert err.count("error: ") == 2 and "Traceback" not in err
    assert "not an image file" in err and "no file at" in err


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda p: None, "no checkpoint at"),
        (lambda p: p.write_text("hello"), "is not a checkpoint"),
        (lambda p: torch.save({"format": "someone-else/9", "model": {}}, p), "'someone-else/9'"),
        (lambda p: torch.save([1, 2, 3], p), "format 'list'"),
    ],
    ids=["missing", "text", "other format", "not a dict"],
)
def test_a_run_that_is_not_a_checkpoint_is_refused_in_one_line(make, words, garments, tmp_path,
                                                               capsys):  # fmt: skip
    path = tmp_path / "best.pt"
    make(path)
    for command in (["predict", str(garments[0][0])], ["export", "--to", str(tmp_path / "x")]):
        assert cli.main([*command, "--run", str(path)]) == 1
        err = capsys.readouterr().err
        assert words in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()  # nothing written
    with pytest.raises((FileNotFoundError, ValueError), match=words.replace("'", ".")):
        load_checkpoint(path)


@pytest.mark.skipif(not onnx_available(), reason="needs the [export] extra")
def test_export_writes_both_formats_checked_and_never_overwrites(run_dir, synthetic, tmp_path,
                                                                  capsys):  # fmt: skip
    to = tmp_path / "exported"
    flags = ["export", "--run", str(run_dir), "--to", str(to), "--data", str(synthetic.root)]
    assert cli.main(flags) == 0
    out = capsys.readouterr().out
    assert "the first 16 test images" in out and out.count("True") >= 4  # match, same top-1
    files = {p.name: p.stat().st_mtime_ns for p in to.iterdir()}
    assert set(files) == {"alexnet.pt", "alexnet.onnx"}
    assert cli.main(flags) == 1
    assert "nothing was overwritten" in capsys.readouterr().err
    assert {p.name: p.stat().st_mtime_ns for p in to.iterdir()} == files
    loaded = torch.jit.load(str(to / "alexnet.pt"))
    model, info = load_checkpoint(run_dir)
    x = torch.randn(3, 1, info["size"], info["size"])
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), atol=1e-4, rtol=1e-4)
    assert os.path.getsize(to / "alexnet.onnx") > 0.9 * os.path.getsize(to / "alexnet.pt")


def test_export_fails_naming_the_format_that_is_missing(run_dir, synthetic, tmp_path, capsys,
                                                        monkeypatch):  # fmt: skip
    from alexnet_lesson import export as exporting

    def without_onnx(model, folder, batch):  # as export_all reports a missing [export] extra
        return pd.DataFrame([{"format": "TorchScript", "match": True},
                             {"format": "ONNX", "file": "skipped"}]).set_index("format")  # fmt: skip

    monkeypatch.setattr(exporting, "export_all", without_onnx)
    flags = [
        "export",
        "--run",
        str(run_dir),
        "--to",
        str(tmp_path / "x"),
        "--data",
        str(synthetic.root),
    ]
    assert cli.main(flags) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ONNX missing or not equal") and "TorchScript" not in err
