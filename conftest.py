"""Test configuration: every notebook kernel nbval starts runs in smoke mode.

The kernels inherit this process's environment, so setting the variables here is enough.
``ALEXNET_LESSON_SMOKE=0 pytest`` runs the notebooks in full mode instead. Training runs of the
notebooks (lesson 07 writes a model that lesson 08 reads) go to a fresh temporary folder, so that
a test run never resumes from, or overwrites, a learner's own runs.
"""

import atexit
import os
import pathlib
import shutil
import tempfile

import pytest

os.environ.setdefault("ALEXNET_LESSON_SMOKE", "1")
if "ALEXNET_LESSON_RUNS" not in os.environ:
    os.environ["ALEXNET_LESSON_RUNS"] = tempfile.mkdtemp(prefix="alexnet-lesson-runs-")
    atexit.register(shutil.rmtree, os.environ["ALEXNET_LESSON_RUNS"], ignore_errors=True)
os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("PYTHONHASHSEED", "0")


@pytest.fixture(autouse=True)
def _doctest_names(doctest_namespace):
    """The package's examples write into ``tempfile.mkdtemp()`` folders, never a fixed /tmp path,
    so that two test runs at once (CI runs several Pythons side by side) cannot collide."""
    doctest_namespace["tempfile"] = tempfile
    doctest_namespace["Path"] = pathlib.Path
