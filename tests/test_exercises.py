"""The exercise checker: right answers pass, wrong ones do not, and the answer is not revealed."""

import hashlib

from alexnet_lesson.exercises import _normalise, check, fingerprint, is_right


def test_right_and_wrong(capsys):
    key = fingerprint(0.1234567)  # 0.1235 to 4 significant digits
    # 0.12346 and 0.12344 lie clear of the rounding boundary 0.12345 (which rounds up only
    # because its nearest double is 4e-18 above it)
    assert is_right(0.12346, key)  # equal to 4 significant digits
    assert not is_right(0.12344, key) and not is_right(0.1236, key)
    assert check(0.12346, key) is None and check(0.1236, key) is None  # a cell shows no "False"
    out = capsys.readouterr().out
    assert "✓ right" in out and "✗ not yet" in out and "0.1234567" not in out


def test_strings_tuples_and_placeholders(capsys):
    assert is_right("  Pool2 ", fingerprint("pool2"))
    assert is_right((256, 5, 5), fingerprint([256, 5, 5]))
    assert not is_right(..., fingerprint(1)) and not is_right(None, fingerprint("none"))
    check(..., fingerprint(1))
    assert capsys.readouterr().out.startswith("… replace the ...")


def test_fingerprint_hides_the_answer_and_tells_answers_apart():
    key = fingerprint(54)
    assert len(key) == 12 and set(key) <= set("0123456789abcdef")
    assert key == hashlib.sha256(_normalise(54, 4).encode()).hexdigest()[:12]  # a one-way hash
    assert len({fingerprint(n) for n in range(50, 60)}) == 10


def test_booleans_in_every_spelling_and_negative_zero():
    import numpy as np
    import torch

    yes, no = fingerprint(True), fingerprint(False)
    for answer in (True, "True", " true ", np.bool_(True), torch.tensor(True)):
        assert is_right(answer, yes) and not is_right(answer, no), answer
    for answer in (False, "False", "FALSE", np.bool_(False), torch.tensor(False)):
        assert is_right(answer, no) and not is_right(answer, yes), answer
    assert not is_right(np.bool_(True), fingerprint(1))  # a NumPy bool is not the number 1
    assert is_right(-0.0, fingerprint(0)) and is_right(np.float32(-0.0), fingerprint(0.0))
    assert is_right(np.int64(54), fingerprint(54)) and not is_right(-0.001, fingerprint(0))
