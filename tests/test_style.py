"""ruff check and ruff format are clean over the package, the tests and the notebooks."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def ruff(*args):
    exe = shutil.which("ruff") or pytest.skip("ruff is not installed")
    return subprocess.run([exe, *args], cwd=ROOT, capture_output=True, text=True)


def test_ruff_check():
    out = ruff("check", ".")
    assert out.returncode == 0, out.stdout + out.stderr


def test_ruff_format():
    out = ruff("format", "--check", ".")
    assert out.returncode == 0, out.stdout + out.stderr


def test_public_functions_have_docstrings_with_an_example():
    import ast

    missing = []
    for path in sorted((ROOT / "alexnet_lesson").glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
                doc = ast.get_docstring(node) or ""
                if "Example" not in doc and node.name not in {"main"}:
                    missing.append(f"{path.name}:{node.name}")
    assert not missing, f"public functions without a docstring example: {missing}"
