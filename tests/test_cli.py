"""The command line: help lists the subcommands; info reports versions, device, data, variants."""

import subprocess
import sys

import pytest

from alexnet_lesson import cli


def run(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "alexnet_lesson", *args], capture_output=True, text=True, env=env
    )


@pytest.mark.slow
def test_help_lists_subcommands():
    assert run("--help").returncode == 0
    sub = next(a for a in cli.build_parser()._actions if a.dest == "command")
    assert set(sub.choices) == {"info", "download", "train", "predict", "export"}


@pytest.mark.slow
def test_info_reports_everything(capsys, tmp_path):
    assert cli.main(["info", "--device", "cpu", "--data", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for word in (
        "torch",
        "torchvision",
        "device      cpu",
        "data folder",
        "not found here",
        "d2l",
        "paper",
    ):
        assert word in out


def test_info_reports_broken_data(capsys, tmp_path):
    from alexnet_lesson import data

    files = data.write_synthetic(tmp_path, 20, 10)
    (data.raw_dir(files.root) / "train-labels-idx1-ubyte").write_bytes(b"\0\0\x08\x01\0\0\0\x09")
    cli.main(["info", "--data", str(tmp_path)])
    assert "BROKEN" in capsys.readouterr().out


@pytest.mark.slow
def test_unknown_subcommand_shows_choices():
    out = run("trian")
    assert out.returncode == 2 and "invalid choice" in out.stderr and "info" in out.stderr


def test_download_offline_fails_fast_with_instructions(tmp_path, monkeypatch, capsys):
    import socket

    def refuse(*a, **k):
        raise OSError("offline (simulated)")

    monkeypatch.setattr(socket, "create_connection", refuse)
    assert cli.main(["download", "--data", str(tmp_path), "--timeout", "1"]) == 1
    assert "FashionMNIST/raw" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("flag", ["--device"])
def test_flags_exist(flag):
    assert flag in run("info", "--help").stdout
