"""The exercise checker: right answers pass, wrong ones do not, and the answer is not revealed."""

from alexnet_lesson.exercises import check, fingerprint


def test_right_and_wrong(capsys):
    key = fingerprint(0.1234567)
    assert check(0.12345, key)  # equal to 4 significant digits
    assert not check(0.1236, key)
    out = capsys.readouterr().out
    assert "✓ right" in out and "✗ not yet" in out and "0.1234567" not in out


def test_strings_tuples_and_placeholders(capsys):
    assert check("  Pool2 ", fingerprint("pool2"))
    assert check((256, 5, 5), fingerprint([256, 5, 5]))
    assert not check(..., fingerprint(1))
    assert "replace the ..." in capsys.readouterr().out


def test_fingerprint_is_not_the_answer():
    assert "54" not in fingerprint(54) or len(fingerprint(54)) == 12
    assert fingerprint(54) != fingerprint(55)
