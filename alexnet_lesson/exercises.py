"""Exercises a learner can check without seeing the answer.

A notebook stores only a fingerprint of the right answer (:func:`fingerprint`); :func:`check`
compares the learner's answer against it and says right or not yet. Numbers are compared after
rounding to ``digits`` significant digits (−0.0 is 0), strings after stripping and lower-casing;
a boolean may be given as ``True``, a NumPy or PyTorch bool, or the string ``"true"``.
"""

from __future__ import annotations

import hashlib
import math

__all__ = ["fingerprint", "is_right", "check"]


def _normalise(answer: object, digits: int) -> str:
    if hasattr(answer, "item") and not isinstance(answer, list | tuple):
        answer = answer.item()  # a NumPy or PyTorch scalar: its Python value (bool stays bool)
    if isinstance(answer, bool):
        return str(answer)
    if isinstance(answer, int | float):
        value = float(answer)
        if value == 0:
            return "0.0"  # −0.0 is 0
        if not math.isfinite(value):
            return repr(value)
        return f"{value:.{digits}g}"
    if isinstance(answer, list | tuple):
        return "(" + ",".join(_normalise(a, digits) for a in answer) + ")"
    text = str(answer).strip().lower()
    return {"true": "True", "false": "False"}.get(text, text)  # "False" is the answer False


def fingerprint(answer: object, digits: int = 4) -> str:
    """The fingerprint a notebook stores instead of the answer (12 hex digits of SHA-256).

    Example:
        >>> fingerprint(54) == fingerprint(54.0)
        True
    """
    return hashlib.sha256(_normalise(answer, digits).encode()).hexdigest()[:12]


def is_right(answer: object, expected: str, digits: int = 4) -> bool:
    """Whether ``answer`` matches the ``expected`` fingerprint (no printing).

    Example:
        >>> is_right(0.12346, fingerprint(0.1234567)), is_right(0.1236, fingerprint(0.1234567))
        (True, False)
    """
    return answer is not None and answer is not Ellipsis and fingerprint(answer, digits) == expected


def check(answer: object, expected: str, digits: int = 4) -> None:
    """Print whether ``answer`` is right, given the ``expected`` fingerprint.

    It returns nothing, so that a notebook cell ending in ``check(...)`` shows only the verdict;
    use :func:`is_right` for the True/False.

    Example:
        >>> check(55, fingerprint(55))
        ✓ right
    """
    if answer is None or answer is Ellipsis:
        print("… replace the ... with your answer, then run the cell again")
    elif is_right(answer, expected, digits):
        print("✓ right")
    else:
        print(f"✗ not yet ({answer!r}); have another look, or open the solution")
