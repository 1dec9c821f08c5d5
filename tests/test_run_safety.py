"""The CLI's faults, each as a learner meets it: the exit status, the message, and that nothing
was changed. docs/run-safety.md lists the same faults as a table."""

import gzip
import json
import shutil

import pytest
import torch

from alexnet_lesson import cli, data, report
from alexnet_lesson.train import fit as real_fit

pytestmark = pytest.mark.slow  # each one trains or loads a model through the CLI


@pytest.fixture
def tiny(synthetic, tmp_path):
    """Flags for a run of one small epoch (cifar96 at 96 px, 16 + 8 images) into tmp_path/run."""
    return ["train", "--variant", "cifar96", "--size", "96", "--limit", "16", "8",
            "--batch-size", "8", "--data", str(synthetic.root), "--out", str(tmp_path / "run"),
            "--epochs", "1", "--no-progress"]  # fmt: skip


def files(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def test_a_second_run_into_the_same_folder_is_refused(tiny, tmp_path, capsys):
    assert cli.main(tiny) == 0
    before = files(tmp_path / "run")
    capsys.readouterr()
    assert cli.main(tiny) == 1
    err = capsys.readouterr().err
    assert "already holds a run" in err and "--resume" in err and "--replace" in err
    assert files(tmp_path / "run") == before
    assert cli.main([*tiny, "--replace"]) == 0  # the explicit way to start anew
    assert "replaced the run" in capsys.readouterr().out


def test_resume_lists_config_changes_and_needs_consent(tiny, tmp_path, capsys):
    assert cli.main(tiny) == 0
    before = files(tmp_path / "run")
    more = [*tiny, "--epochs", "2", "--lr", "0.01", "--resume"]
    assert cli.main(more) == 1
    err = capsys.readouterr().err
    assert "another configuration or data (recipe.epochs: 1 → 2; recipe.lr: 0.02 → 0.01)" in err
    assert files(tmp_path / "run") == before
    assert cli.main([*more, "--change-recipe"]) == 0
    assert "changed: recipe.lr: 0.02 → 0.01" in capsys.readouterr().out
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["epochs_done"] == 2 and metrics["config"]["recipe"]["lr"] == 0.01
    changes = ["recipe.epochs: 1 → 2", "recipe.lr: 0.02 → 0.01"]
    assert metrics["config_changes"] == [{"after_epoch": 1, "changes": changes}]


def test_resume_with_another_optimizer_is_refused(tiny, tmp_path, capsys):
    assert cli.main(tiny) == 0
    before = files(tmp_path / "run")
    assert cli.main([*tiny, "--optimizer", "adamw", "--resume", "--change-recipe"]) == 1
    err = capsys.readouterr().err
    assert "cannot resume" in err and "recipe.optimizer: sgd → adamw" in err
    assert files(tmp_path / "run") == before


def test_interrupt_exits_130_and_says_how_to_resume(tiny, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        history = real_fit(*args, **kwargs)
        history.attrs["stopped"] = "interrupted"
        return history

    monkeypatch.setattr(cli, "fit", interrupted)
    assert cli.main(tiny) == 130
    out = capsys.readouterr().out
    assert "to continue: python -m alexnet_lesson train" in out and out.rstrip().endswith(
        "--resume"
    )


def test_nan_stop_writes_nothing_when_no_epoch_finished_and_a_retry_may_use_the_folder(
    tiny, tmp_path, capsys
):
    assert cli.main([*tiny, "--lr", "1e6", "--schedule", "constant"]) == 3
    out = capsys.readouterr().out
    assert "too high" in out and out.rstrip().endswith(": nothing")  # "wrote in …: nothing"
    assert not any(p.is_file() for p in (tmp_path / "run").iterdir())
    assert cli.main([*tiny, "--lr", "0.01"]) == 0  # the retry needs no --replace


def test_metrics_json_is_strict_json(tiny, tmp_path, monkeypatch):
    def diverging(*args, **kwargs):  # an epoch whose test loss came out infinite
        history = real_fit(*args, **kwargs)
        history.loc[history.index[-1], "val_loss"] = float("inf")
        return history

    monkeypatch.setattr(cli, "fit", diverging)
    assert cli.main(tiny) == 0
    text = (tmp_path / "run" / "metrics.json").read_text()
    metrics = json.loads(text, parse_constant=lambda c: pytest.fail(f"not JSON: {c}"))
    assert metrics["final"]["val_loss"] is None and "Infinity" not in text


def test_replace_keeps_the_old_run_when_the_data_is_broken(synthetic, tiny, tmp_path, capsys):
    assert cli.main(tiny) == 0
    before = files(tmp_path / "run")
    broken = tmp_path / "broken"
    shutil.copytree(synthetic.root, broken)
    images = data.raw_dir(broken) / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:1000])
    assert cli.main([*tiny, "--replace", "--data", str(broken)]) == 1
    assert files(tmp_path / "run") == before and "replaced" not in capsys.readouterr().out


def test_resume_lists_a_change_of_input_size_or_data(tiny, tmp_path, capsys):
    assert cli.main(tiny) == 0
    before = files(tmp_path / "run")
    capsys.readouterr()
    assert cli.main([*tiny, "--size", "128", "--limit", "32", "8", "--no-augment", "--resume"]) == 1
    err = capsys.readouterr().err
    for change in ("data.size: 96 → 128", "data.augment: True → False",
                   "data.limit: (16, 8) → (32, 8)"):  # fmt: skip
        assert change in err, change
    assert files(tmp_path / "run") == before


@pytest.mark.parametrize(
    "n_train",
    [
        500,
        600,  # the same counts: only the measured mean and std tell the files apart
    ],
    ids=["other-counts", "same-counts"],
)  # fmt: skip
def test_resume_lists_a_change_of_data_files(tiny, tmp_path, capsys, n_train):
    assert cli.main(tiny) == 0
    before = files(tmp_path / "run")
    other = data.write_synthetic(tmp_path / "other", n_train=n_train, n_test=200, seed=5)
    capsys.readouterr()
    assert cli.main([*tiny, "--data", str(other.root), "--resume"]) == 1
    err = capsys.readouterr().err
    assert "another configuration or data (" in err
    # Other counts change the description; the same counts only the measured mean and std.
    assert ("data: SYNTHETIC" if n_train == 500 else "mean: ") in err
    assert files(tmp_path / "run") == before


def test_a_shortened_flag_is_not_taken_for_another(tiny, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main([*tiny, "--repl"])
    assert exc.value.code == 2 and "unrecognized arguments: --repl" in capsys.readouterr().err


@pytest.mark.parametrize(
    "flags,words",
    [
        (["--device", "cude"], "unknown device 'cude'"),
        (["--device", "cuda:7"], "there is no cuda:7 device here"),
        (["--lr", "inf"], "positive finite"),
        (["--weight-decay", "inf"], "finite number, 0 or more"),
        (["--seed", "-1"], "between 0 and 2**32 - 1"),
    ],
)
def test_bad_flags_fail_in_two_lines(tiny, tmp_path, capsys, flags, words):
    if "cuda" in flags[-1] and torch.cuda.device_count() > 7:
        pytest.skip("this machine has that GPU")
    with pytest.raises(SystemExit) as exc:
        cli.main([*tiny, *flags])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and words in err and len(err.strip().splitlines()) == 2
    assert not (tmp_path / "run").exists()


def test_an_unusable_out_folder_fails_before_training(tiny, tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    flags = [*tiny, "--out", str(tmp_path / "notes.txt" / "run")]
    assert cli.main(flags) == 1
    err = capsys.readouterr().err
    assert "cannot write to" in err and len(err.strip().splitlines()) == 1
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_corrupt_data_files_get_a_message(synthetic, tiny, tmp_path, capsys):
    broken = tmp_path / "broken"
    shutil.copytree(synthetic.root, broken)
    raw = data.raw_dir(broken)
    images = raw / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:1000])  # truncated
    flags = [*tiny, "--data", str(broken)]
    assert cli.main(flags) == 1
    assert "train-images-idx3-ubyte" in capsys.readouterr().err
    assert not (tmp_path / "run" / "last.pt").exists()


@pytest.mark.parametrize("cut", ["gzip", "idx"])
def test_a_corrupt_gz_leaves_no_broken_file_behind(synthetic, tiny, tmp_path, capsys, cut):
    broken = tmp_path / "gz"
    shutil.copytree(synthetic.root, broken)
    raw = data.raw_dir(broken)
    labels = raw / "t10k-labels-idx1-ubyte"
    content = labels.read_bytes()
    packed = gzip.compress(content[: len(content) // 2] if cut == "idx" else content)
    labels.unlink()
    (raw / "t10k-labels-idx1-ubyte.gz").write_bytes(
        packed if cut == "idx" else packed[: len(packed) // 2]  # a short IDX, or a short gzip
    )
    assert cli.main([*tiny, "--data", str(broken)]) == 1
    err = capsys.readouterr().err
    assert "does not unpack to a complete IDX file" in err and "download" in err
    assert not labels.exists() and not list(raw.glob("*.part"))


def test_tensorboard_needs_its_package_or_logs(tiny, tmp_path, capsys, monkeypatch):
    if not report.tensorboard_available():
        assert cli.main([*tiny, "--tensorboard"]) == 1
        assert "pip install tensorboard" in capsys.readouterr().err
        assert not (tmp_path / "run").exists()
    logged = []

    class Board:
        def __init__(self, folder):
            logged.append(folder)

        def update(self, history):
            logged.append(history.iloc[-1].to_dict())

        def close(self):
            logged.append("closed")

    monkeypatch.setattr(report, "_TensorBoard", Board)
    monkeypatch.setattr(cli, "tensorboard_available", lambda: True)
    assert cli.main([*tiny, "--tensorboard"]) == 0
    assert str(logged[0]).endswith("run/tensorboard") and logged[1]["epoch"] == 1
    assert logged[-1] == "closed"
