"""The install story: requirements.txt, environment.yml, the README commands and CI agree."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def requirement_lines(text: str) -> set[str]:
    lines = (re.sub(r"\s+#.*$", "", line).strip() for line in text.splitlines())
    return {line for line in lines if line and not line.startswith("#")}


def environment_pip_lines() -> set[str]:
    lines, inside = [], False
    for line in (ROOT / "environment.yml").read_text().splitlines():
        if line.strip() == "- pip:":
            inside = True
        elif inside and line.strip().startswith("- "):
            lines.append(line.strip()[2:])
        elif inside and line.strip():
            break
    return {re.sub(r"\s+#.*$", "", x).strip() for x in lines}


def test_environment_yml_installs_what_requirements_txt_installs():
    assert environment_pip_lines() == requirement_lines((ROOT / "requirements.txt").read_text())


def test_environment_yml_python_is_311_or_312():
    assert re.search(r"^\s*- python=3\.1[12]\s*$", (ROOT / "environment.yml").read_text(), re.M)


def test_d2l_is_installed_without_its_pins_everywhere():
    nodeps = requirement_lines((ROOT / "requirements-nodeps.txt").read_text())
    assert nodeps == {"d2l==1.0.3"}
    assert not any(
        line.startswith("d2l")
        for line in requirement_lines((ROOT / "requirements.txt").read_text())
    )
    readme = (ROOT / "README.md").read_text()
    assert readme.count("pip install --no-deps -r requirements-nodeps.txt") >= 2
    assert (
        "pip install --no-deps -r requirements-nodeps.txt" in (ROOT / "environment.yml").read_text()
    )


def quick_start_commands() -> dict[str, str]:
    readme = (ROOT / "README.md").read_text()
    found = {}
    for name in ("lessons", "test"):
        m = re.search(rf"<!-- {name}-command -->\n```bash\n(.+)\n```", readme)
        assert m, f"README has no {name} command"
        found[name] = m.group(1)
    return found


def test_readme_has_exactly_two_quick_start_commands():
    readme = (ROOT / "README.md").read_text()
    quick = readme.split("## Quick start")[1].split("\n## ")[0]
    assert quick.count("```bash") == 2
    cmds = quick_start_commands()
    assert cmds["lessons"].endswith("jupyter lab notebooks/")
    assert cmds["test"].endswith("&& pytest")
    install = " && ".join(cmds["test"].split(" && ")[:-1])
    assert cmds["lessons"].startswith(install)  # the same install for both


def test_ci_runs_the_readme_test_command():
    out = subprocess.run(
        ["awk", r"/<!-- test-command -->/{found=1; next} found && /^```/{if (fence++) exit; next} "
         r"found && fence==1{print; exit}", "README.md"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert out == quick_start_commands()["test"]
    assert "README.md" in (ROOT / ".ci" / "run").read_text()


def test_readme_lists_every_notebook():
    readme = (ROOT / "README.md").read_text()
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert f"`{nb.name}`" in readme, nb.name


def test_pyproject_dependencies_are_in_requirements():
    tomllib = pytest.importorskip("tomllib" if sys.version_info >= (3, 11) else "tomli")
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {
        re.split(r"[<>=!;\s]", line)[0]
        for line in requirement_lines((ROOT / "requirements.txt").read_text())
    }
    for dep in deps:
        assert re.split(r"[<>=!;\s]", dep)[0] in names, dep


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """The package built as a wheel, the way it is published."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
    )
    (path,) = out.glob("alexnet_lesson-*.whl")
    return path


def test_wheel_contains_the_package(wheel):
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    for module in ("__init__", "models", "data", "shapes", "env", "cli", "exercises", "plots"):
        assert f"alexnet_lesson/{module}.py" in names


def test_notebook_runs_against_the_installed_wheel(wheel, tmp_path):
    """Install the wheel on its own and run the setup notebook with it, away from the checkout."""
    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(site),
            str(wheel),
        ],
        check=True,
    )
    work = tmp_path / "work"
    work.mkdir()
    (work / "00_setup.ipynb").write_bytes((ROOT / "notebooks" / "00_setup.ipynb").read_bytes())
    env = {
        **os.environ,
        "PYTHONPATH": str(site),
        "ALEXNET_LESSON_SMOKE": "1",
        "XDG_CACHE_HOME": str(tmp_path),
    }
    where = subprocess.run(
        [sys.executable, "-c", "import alexnet_lesson; print(alexnet_lesson.__file__)"],
        cwd=work, env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert where.startswith(str(site)), where
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval", "--nbval-current-env",
         "--rootdir", str(work), "00_setup.ipynb"],
        cwd=work, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
