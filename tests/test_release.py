"""What the release workflow publishes: a wheel and an sdist that `twine check` accepts, at the
version the notebooks' install cells ask for, with the repository's address in its metadata."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import sync_notebooks  # noqa: E402


@pytest.mark.slow
def test_wheel_and_sdist_pass_twine_check(tmp_path):
    pytest.importorskip("build", reason="`build` is not installed (requirements.txt has it)")
    pytest.importorskip("twine", reason="`twine` is not installed (requirements.txt has it)")
    # --no-isolation: the build backend (setuptools) comes from the lock, as in CI, offline
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(tmp_path), str(ROOT)],
        check=True, capture_output=True,
    )  # fmt: skip
    version, repository = sync_notebooks.project()
    wheel = tmp_path / f"alexnet_lesson-{version}-py3-none-any.whl"
    sdist = tmp_path / f"alexnet_lesson-{version}.tar.gz"
    assert wheel.is_file() and sdist.is_file(), sorted(p.name for p in tmp_path.iterdir())
    out = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(wheel), str(sdist)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    metadata = zipfile.ZipFile(wheel).read(f"alexnet_lesson-{version}.dist-info/METADATA").decode()
    assert f"Project-URL: Repository, {repository}" in metadata


def test_release_workflow_builds_checks_tests_and_publishes_on_a_tag():
    flow = (ROOT / ".github" / "workflows" / "release.yml").read_text()
    assert 'tags: ["v*"]' in flow
    for step in ("python -m build", "twine check --strict", "pytest", "sync_notebooks.py --check"):
        assert step in flow, step
    assert "pypa/gh-action-pypi-publish" in flow and "id-token: write" in flow  # trusted publishing
