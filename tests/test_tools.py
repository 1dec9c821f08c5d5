"""tools/execute_notebooks.py, the one notebook runner (the GPU check calls it too): it runs a
notebook in a fresh kernel, says which cell failed, and never writes a failed notebook in place."""

import sys
import tempfile
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

from execute_notebooks import execute, main  # noqa: E402


def notebook(path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(nb, path)
    return path


@pytest.mark.slow
def test_runner_records_cells_and_the_failing_one(tmp_path, monkeypatch):
    for name in ("ALEXNET_LESSON_SMOKE", "ALEXNET_LESSON_RUNS", "PYTHONHASHSEED"):
        monkeypatch.setenv(name, "0")  # main() sets them; the test gives them back
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # main()'s runs folder
    nb, record = execute(notebook(tmp_path / "ok.ipynb", "x = 20", "x + 1"), 60)
    assert record["status"] == "passed" and (record["cells"], record["cells_run"]) == (2, 2)
    assert nb.cells[1].outputs[0]["data"]["text/plain"] == "21"

    bad = notebook(tmp_path / "bad.ipynb", "1", "1 / 0", "2")
    before = bad.read_text()
    assert main([str(bad)]) == 1
    assert bad.read_text() == before  # not written
    _, record = execute(bad, 60)
    assert record["status"] == "failed" and record["error_cell"] == 1
    assert record["error"].startswith("ZeroDivisionError") and record["cells_run"] == 2
