"""A simulated Colab: lessons 00 and 07 (smoke mode) run top to bottom in a fresh venv that holds
the lock's packages but not this project, with a stand-in ``google.colab`` module, so that their
first cells must install the built wheel (``alexnet-lesson==<version>``) with pip, as on Colab.
d2l is left out of the venv too: the first cell installs it without its dependencies, and lesson
07 trains with ``d2l.train_ch6``.

Where the packages come from: the venv is new (its own interpreter, pip and site-packages), and
its site-packages links every package of the test environment except this project and d2l; CI
installs that environment from ``requirements.lock`` and ``test_install.py`` checks it against the
lock. Copying 5 GB of PyTorch instead would prove nothing more and take minutes. pip resolves
``alexnet-lesson==<version>`` from a folder holding the wheel just built (``PIP_FIND_LINKS``,
``PIP_NO_INDEX``), as Colab resolves it from the package index.
"""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import sync_notebooks  # noqa: E402

LESSONS = ["00_setup.ipynb", "07_training.ipynb"]
LEFT_OUT = ("alexnet_lesson", "__editable__", "d2l", "pip", "_distutils_hack", "distutils-")

RUN = """
import sys, nbformat
from nbclient import NotebookClient
for path in sys.argv[1:]:
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=900, kernel_name="python3").execute()
    nbformat.write(nb, path)
    print(path, "ran", flush=True)
"""
WHERE = """
import alexnet_lesson, sys
print(alexnet_lesson.__file__, sys.executable)
"""
NO_D2L = "import importlib.util, sys; sys.exit(importlib.util.find_spec('d2l') is not None)"


def _colab_venv(tmp_path: Path) -> Path:
    """A new venv whose site-packages links the test environment's packages but this project's."""
    venv = tmp_path / "colab-venv"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    )  # fmt: skip
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not entry.name.startswith(LEFT_OUT) and not (site / entry.name).exists():
            (site / entry.name).symlink_to(entry)
    kernels = venv / "share" / "jupyter" / "kernels" / "python3"  # the kernel is this venv's
    kernels.mkdir(parents=True)
    argv = [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    spec = {"argv": argv, "display_name": "Python 3 (ipykernel)", "language": "python"}
    (kernels / "kernel.json").write_text(json.dumps(spec))
    return venv


def _wheels(tmp_path: Path) -> Path:
    """The folder pip installs from: the wheel built from this checkout, and d2l's from the
    package index (pip's cache serves it when the index was used before)."""
    wheels = tmp_path / "wheels"
    pip = [sys.executable, "-m", "pip"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(ROOT)],
        check=True,
    )
    subprocess.run(
        [*pip, "download", "--no-deps", "-q", "-d", str(wheels), sync_notebooks.d2l_requirement()],
        check=True,
    )
    return wheels


@pytest.mark.slow
def test_lessons_00_and_07_run_on_a_simulated_colab(tmp_path):
    version, _ = sync_notebooks.project()
    wheels = _wheels(tmp_path)
    venv = _colab_venv(tmp_path)
    startup = tmp_path / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-colab.py").write_text(  # Colab's kernel has google.colab imported
        "import sys, types\nsys.modules['google.colab'] = types.ModuleType('google.colab')\n"
    )
    work = tmp_path / "work"  # away from the checkout, so nothing imports it from the cwd
    work.mkdir()
    for name in LESSONS:
        shutil.copy(ROOT / "notebooks" / name, work / name)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PIP_", "VIRTUAL"))},
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "VIRTUAL_ENV": str(venv),
        "IPYTHONDIR": str(tmp_path / "ipython"),
        "JUPYTER_PATH": str(venv / "share" / "jupyter"),
        "PIP_FIND_LINKS": str(wheels),
        "PIP_NO_INDEX": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PYTHONNOUSERSITE": "1",
        "PYTHONHASHSEED": "0",
        "ALEXNET_LESSON_SMOKE": "1",
        "ALEXNET_LESSON_RUNS": str(tmp_path / "runs"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    python = str(venv / "bin" / "python")
    before = subprocess.run([python, "-c", WHERE], env=env, cwd=work, capture_output=True)
    assert before.returncode != 0, "the venv must start without alexnet_lesson"
    assert subprocess.run([python, "-c", NO_D2L], env=env).returncode == 0, "and without d2l"
    ran = subprocess.run(
        [python, "-c", RUN, *LESSONS], env=env, cwd=work, capture_output=True, text=True
    )
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-5000:]
    where = subprocess.run(
        [python, "-c", WHERE], env=env, cwd=work, capture_output=True, text=True, check=True
    ).stdout.split()
    assert all(p.startswith(str(venv)) for p in where), where  # installed by the first cells
    assert subprocess.run([python, "-c", NO_D2L], env=env).returncode == 1, "d2l, installed"
    meta = subprocess.run(
        [python, "-c", "from importlib.metadata import version; print(version('alexnet-lesson'))"],
        env=env, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert meta == version
