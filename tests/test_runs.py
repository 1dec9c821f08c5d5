"""The run folder: one run per folder, a lock per process, atomic writes, strict JSON."""

import json
import os
import subprocess
import sys
import time

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
    lock.write_text("")  # a lock file left half-written: nobody holds its OS lock
    with runs.claim(tmp_path):
        assert json.loads(lock.read_text())["pid"] == os.getpid()


RACER = """
import importlib.util, sys, time
spec = importlib.util.spec_from_file_location("runs", sys.argv[3])  # runs.py alone: no torch
runs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(runs)
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))  # all start at the same moment
try:
    with runs.claim(sys.argv[1]):
        print("got", flush=True)
        time.sleep(1.5)
except runs.RunFolderError:
    print("busy")
"""


@pytest.mark.slow
def test_of_processes_starting_at_once_exactly_one_gets_the_folder(tmp_path):
    """Six processes race for one folder, three times (a review saw two winners in 2 of 40
    rounds with the first lock, which wrote its contents after creating the file)."""
    for round_ in range(3):
        start = time.time() + 2
        racers = [subprocess.Popen([sys.executable, "-c", RACER, str(tmp_path / f"r{round_}"),
                                    str(start), runs.__file__], stdout=subprocess.PIPE, text=True)
                  for _ in range(6)]  # fmt: skip
        said = sorted(p.communicate(timeout=60)[0].strip() for p in racers)
        assert said == ["busy"] * 5 + ["got"], said


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


def test_strict_json():
    text = json.dumps(runs.strict_json({"a": float("nan"), "b": (1.0, float("-inf")), "c": "x"}))
    assert json.loads(text) == {"a": None, "b": [1.0, None], "c": "x"} and "NaN" not in text


def test_the_holder_may_claim_again_and_keeps_the_lock_until_the_outer_claim_ends(tmp_path):
    with runs.claim(tmp_path) as folder:
        (folder / "last.pt").write_bytes(b"w")
        with runs.claim(tmp_path):  # the CLI clears a run, then fit claims the same folder
            assert runs.clear(tmp_path) == ["last.pt"]
        assert (tmp_path / runs.LOCK_NAME).is_file()  # still held
    assert not (tmp_path / runs.LOCK_NAME).exists()
