"""The package's one rule for each cross-cutting thing (env.py): caches, eval mode, device."""

import re
from pathlib import Path

import pytest
import torch
from torch import nn

from alexnet_lesson import data, env

PACKAGE = Path(env.__file__).parent


def test_eval_mode_switches_and_restores_even_when_the_block_raises():
    net = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))
    with env.eval_mode(net) as inside:
        assert inside is net and not net.training and not net[1].training
    assert net.training and net[1].training
    with pytest.raises(RuntimeError), env.eval_mode(net):
        raise RuntimeError("a failing forward pass")
    assert net.training  # given back in train mode all the same
    net.eval()
    with env.eval_mode(net, training=True):
        assert net.training
    assert not net.training  # and back in eval mode


def test_cache_dir_reads_the_variable_then_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv(env.RUNS_VAR, str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert env.cache_dir("runs") == tmp_path / "mine"
    monkeypatch.delenv(env.DATA_VAR, raising=False)
    assert env.cache_dir("data") == tmp_path / "xdg" / "alexnet-lesson" / "data" == data.data_dir()
    assert data.data_dir("elsewhere") == Path("elsewhere")  # an argument wins
    with pytest.raises(ValueError, match="choose one of data, runs"):
        env.cache_dir("models")


def test_model_device_is_where_the_parameters_are():
    assert env.model_device(nn.Linear(2, 2)) == torch.device("cpu")
    assert env.model_device(nn.ReLU()) == torch.device("cpu")  # no parameters: the CPU
    with torch.device("meta"):
        assert env.model_device(nn.Linear(2, 2)).type == "meta"


def test_only_env_reads_environment_variables():
    readers = {
        path.name
        for path in PACKAGE.glob("*.py")
        if re.search(r"os\.environ|os\.getenv|getenv\(", path.read_text())
    }
    assert readers == {"env.py"}


def test_a_plan_is_chosen_by_device_or_by_name_and_smoke_shrinks_it(monkeypatch):
    from alexnet_lesson.session import Setup

    plans = {
        "cpu": dict(images=1000, epochs=3),
        "cuda": dict(images=60000, epochs=12),
        "cpu-long": dict(images=7058, epochs=12),
    }
    cpu = Setup(smoke=False, device=torch.device("cpu"), data=None)
    monkeypatch.delenv(env.PLAN_VAR, raising=False)
    assert cpu.plan(plans, {}, quiet=True) == {"images": 1000, "epochs": 3, "name": "cpu"}
    monkeypatch.setenv(env.PLAN_VAR, "CPU-Long ")
    assert cpu.plan(plans, {}, quiet=True)["epochs"] == 12
    smoke = Setup(smoke=True, device=torch.device("cpu"), data=None)
    assert smoke.plan(plans, dict(epochs=1), quiet=True) == {
        "images": 7058, "epochs": 1, "name": "cpu-long"}  # fmt: skip
    monkeypatch.setenv(env.PLAN_VAR, "gpu")
    with pytest.raises(ValueError, match="use one of cpu, cuda, cpu-long"):
        cpu.plan(plans, {}, quiet=True)
    with pytest.raises(ValueError, match="plans include cpu, cuda"):
        cpu.plan({"cpu": {}}, {}, quiet=True)
    monkeypatch.delenv(env.PLAN_VAR)
    with pytest.raises(ValueError, match="only shrink the plan's own settings"):
        smoke.plan({"cpu": {}, "cuda": {}}, dict(epochs=1), quiet=True)


def test_shown_paths_spell_out_no_folder_of_this_machine(tmp_path):
    home = Path.home()
    assert env.shown_path(home / "runs" / "a") == str(Path("~") / "runs" / "a")
    assert env.shown_path(tmp_path / "b").startswith("<temporary folder>")
    assert str(tmp_path) not in env.shown_path(tmp_path / "b")
    assert env.shown_path("/opt/elsewhere") == "/opt/elsewhere"  # nothing to hide: left as is
