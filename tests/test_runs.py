"""The run folder: one run per folder, a lock per process, atomic writes, strict JSON."""

import json
import os
import subprocess
import sys

import pytest

from alexnet_lesson import runs


def test_claim_refuses_a_folder_with_a_run_and_changes_nothing(tmp_path):
    (tmp_path / "last.pt").write_bytes(b"weights")
    with pytest.raises(runs.RunFolderError, match="--resume") as exc:
        with runs.claim(tmp_path):
            pass
    assert "--out" in str(exc.value) and "--replace" in str(exc.value)
    assert (tmp_path / "last.pt").read_bytes() == b"weights"
    assert not (tmp_path / runs.LOCK_NAME).exists()  # the lock went with the refusal
    with runs.claim(tmp_path, resume=True) as folder:  # resuming it is fine
        assert (folder / runs.LOCK_NAME).is_file()
    assert not (tmp_path / runs.LOCK_NAME).exists()


def test_a_second_process_is_told_who_holds_the_folder(tmp_path):
    with runs.claim(tmp_path / "run"):
        code = f"from alexnet_lesson import runs; runs.claim({str(tmp_path / 'run')!r}).__enter__()"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert out.returncode != 0
        assert f"in use by process {os.getpid()}" in out.stderr


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()  # fmt: skip
    lock = tmp_path / runs.LOCK_NAME
    lock.write_text(json.dumps({"pid": int(dead), "host": os.uname().nodename, "since": "x"}))
    with runs.claim(tmp_path):
        assert json.loads(lock.read_text())["pid"] == os.getpid()


def test_an_unusable_folder_fails_before_any_work(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(runs.RunFolderError, match="cannot write to .*notes.txt/run"):
        with runs.claim(tmp_path / "notes.txt" / "run"):  # a file where a folder should be
            pass
    assert (tmp_path / "notes.txt").read_text() == "mine"
    if os.geteuid() != 0:  # root may write anywhere
        tmp_path.chmod(0o500)
        try:
            with pytest.raises(runs.RunFolderError, match="Permission denied"):
                with runs.claim(tmp_path / "run"):
                    pass
        finally:
            tmp_path.chmod(0o700)


def test_clear_removes_only_run_files(tmp_path):
    for name in ("last.pt", "best.pt", "notes.txt"):
        (tmp_path / name).write_text(name)
    assert runs.clear(tmp_path) == ["last.pt", "best.pt"]
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_write_atomic_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "history.csv"
    target.write_text("old")

    def crash(tmp):
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        runs.write_atomic(target, crash)
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == [target.name]


def test_strict_json_and_recipe_changes():
    text = json.dumps(runs.strict_json({"a": float("nan"), "b": (1.0, float("-inf")), "c": "x"}))
    assert json.loads(text) == {"a": None, "b": [1.0, None], "c": "x"} and "NaN" not in text
    cannot, may = runs.recipe_changes(
        {"epochs": 3, "lr": 0.02, "optimizer": "sgd", "seed": 0},
        {"epochs": 5, "lr": 0.01, "optimizer": "adamw", "seed": 0},
    )
    assert cannot == ["optimizer: sgd → adamw"] and may == ["epochs: 3 → 5", "lr: 0.02 → 0.01"]
