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


SUPPORTED = ("3.10", "3.11", "3.12", "3.13")  # the README's table of tested versions


def lock_entries() -> list[tuple[str, str, str]]:
    """(normalised name, exact version, marker or "") for every package line of the lock."""
    entries = []
    for line in requirement_lines((ROOT / "requirements.lock").read_text()):
        spec, _, marker = line.partition(";")
        name, sep, version = spec.strip().partition("==")
        assert sep and version.strip(), f"not pinned exactly in requirements.lock: {line}"
        entries.append((canonical(name), version.strip(), marker.strip()))
    return entries


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower().strip()


def locked_for(python_full: str, platform: str = "linux") -> dict[str, str]:
    """The lock's name → version for one Python (``"3.11.7"``) on one platform."""
    markers = pytest.importorskip("packaging.markers")
    env = markers.default_environment() | {
        "python_version": ".".join(python_full.split(".")[:2]),
        "python_full_version": python_full,
        "sys_platform": platform,
        "platform_system": {"linux": "Linux", "darwin": "Darwin", "win32": "Windows"}[platform],
        "os_name": "nt" if platform == "win32" else "posix",
    }
    chosen: dict[str, str] = {}
    for name, version, marker in lock_entries():
        if not marker or markers.Marker(marker).evaluate(env):
            assert name not in chosen, f"two versions of {name} for Python {python_full}"
            chosen[name] = version
    return chosen


def test_environment_yml_installs_from_the_lock():
    assert environment_pip_lines() == {"-r requirements.lock"}


def test_environment_yml_python_is_311_or_312():
    assert re.search(r"^\s*- python=3\.1[12]\s*$", (ROOT / "environment.yml").read_text(), re.M)


def test_lock_pins_every_package_and_is_refreshed_by_the_readme_command():
    assert len(lock_entries()) > 50  # direct and transitive: jupyterlab alone brings dozens
    header = (ROOT / "requirements.lock").read_text().splitlines()[1]
    refresh = (
        "uv pip compile --universal --python-version 3.10 requirements.txt -o requirements.lock"
    )
    assert header.strip("# ") == refresh
    assert refresh in (ROOT / "README.md").read_text()


@pytest.mark.parametrize("python", SUPPORTED)
@pytest.mark.parametrize("patch", [0, 99])  # some pins differ within a minor version
def test_lock_satisfies_requirements_txt_on_every_supported_python(python, patch):
    requirements = pytest.importorskip("packaging.requirements")
    chosen = locked_for(f"{python}.{patch}")
    for line in requirement_lines((ROOT / "requirements.txt").read_text()):
        req = requirements.Requirement(line)
        env = {"python_version": python, "python_full_version": f"{python}.{patch}"}
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        name = canonical(req.name)
        assert name in chosen, f"{req.name} is in requirements.txt but not locked for {python}"
        assert req.specifier.contains(chosen[name], prereleases=True), (name, chosen[name])
    assert chosen["torch"] == ("2.14.1" if python == "3.10" else "2.15.0")


def test_installed_versions_match_the_lock():
    """This environment was installed from the lock (fails, listing the differences, when it was not)."""
    from importlib import metadata

    python = "{}.{}.{}".format(*sys.version_info[:3])
    if python.rsplit(".", 1)[0] not in SUPPORTED:
        pytest.skip(f"Python {python} is not one the lock covers")
    differ = []
    for name, version in locked_for(python, sys.platform).items():
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            differ.append(f"{name}: locked {version}, not installed")
            continue
        if have.split("+")[0] != version.split("+")[0]:  # torch's local tag (+cu132) is the build
            differ.append(f"{name}: locked {version}, installed {have}")
    assert not differ, "not installed from requirements.lock:\n" + "\n".join(differ)


def test_d2l_is_installed_without_its_pins_everywhere():
    nodeps = requirement_lines((ROOT / "requirements-nodeps.txt").read_text())
    assert nodeps == {"d2l==1.0.3", "-e ."}
    for name in ("requirements.txt", "requirements.lock"):
        assert not any(
            line.startswith("d2l") for line in requirement_lines((ROOT / name).read_text())
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
    assert "pip install -r requirements.lock &&" in install  # exact versions, not ranges


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


@pytest.mark.slow
def test_wheel_contains_the_package(wheel):
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    for module in ("__init__", "models", "data", "shapes", "env", "cli", "exercises", "plots"):
        assert f"alexnet_lesson/{module}.py" in names


@pytest.mark.slow
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
