"""The run configuration: one table row per setting, flags both ways, clear rule errors, a dict
round trip (what checkpoints store), and resume differences sorted into cannot and may."""

import argparse
import dataclasses
import json
import subprocess
import sys

import pytest

from alexnet_lesson import config, models
from alexnet_lesson.config import DataConfig, ModelConfig, Recipe, RunConfig

PARTS = {"model": ModelConfig, "data": DataConfig, "recipe": Recipe}


def names(kind):
    return [f.name for f in dataclasses.fields(kind)]


def test_the_table_has_one_row_per_setting():
    table = RunConfig().table()
    expected = ["seed", *(name for kind in PARTS.values() for name in names(kind))]
    assert list(table.index) == expected and table.index.is_unique  # each name in one part
    assert list(table.columns) == ["part", "value", "meaning"]
    assert table.loc["seed", "part"] == "run"
    for part, kind in PARTS.items():
        assert (table.loc[names(kind), "part"] == part).all()
    assert table["meaning"].str.strip().astype(bool).all()  # every setting says what it means
    assert len(table) == len(RunConfig().flat())
    changed = RunConfig.of(lr=0.1, size=28, seed=5).table()
    assert (changed.loc["lr", "value"], changed.loc["size", "value"]) == (0.1, 28)
    assert changed.loc["seed", "value"] == 5
    for kind in PARTS.values():
        assert list(kind().table().index) == names(kind)
    momentum = Recipe().table().loc["momentum"]
    assert momentum["value"] == 0.9 and "§5" in momentum["meaning"]  # the paper's


def parser():
    p = argparse.ArgumentParser()
    config.add_flags(p)
    return p


def as_flags(run: RunConfig) -> list[str]:
    """The command-line flags that ask for ``run`` (every setting but ``limit``)."""
    flags = ["--seed", str(run.seed)]
    for part in PARTS:
        for name, value in getattr(run, part).as_dict().items():
            flag = "--" + name.replace("_", "-")
            if name == "limit" or value is None:
                continue
            if isinstance(value, bool):
                flags.append(flag if value else "--no-" + flag[2:])
            else:
                flags += [flag, str(value)]
    return flags


@pytest.mark.parametrize(
    "run",
    [
        RunConfig(),
        RunConfig.of(variant="cifar96", in_channels=3, channels=3, size=96, init="paper",
                     num_classes=7, normalise=False, augment=False, pad=3, val_share=0.2,
                     epochs=4, batch_size=16, lr=3e-4, optimizer="adamw", momentum=0.5,
                     weight_decay=0.0, schedule="plateau", label_smoothing=0.0, grad_accum=2,
                     amp="bf16", channels_last=True, compile=True, steps_per_epoch=9, seed=7),
    ],
    ids=["defaults", "every-setting-changed"],
)  # fmt: skip
def test_flags_round_trip(run):
    assert config.from_flags(parser().parse_args(as_flags(run))) == run


def test_unset_flags_keep_the_base():
    base = RunConfig.of(size=28, lr=0.5, seed=3, limit=(100, 20))
    args = parser().parse_args(["--epochs", "2", "--no-augment"])
    got = config.from_flags(args, base)
    assert got == base.replace(epochs=2, augment=False)
    assert config.from_flags(parser().parse_args([])) == RunConfig()
    assert parser().parse_args(["--steps-per-epoch", "none"]).steps_per_epoch is None


def test_add_flags_can_skip_settings():
    p = argparse.ArgumentParser()
    config.add_flags(p, skip=("channels", "num_classes"))
    with pytest.raises(SystemExit):
        p.parse_args(["--channels", "3"])
    assert config.from_flags(p.parse_args(["--lr", "0.1"])) == RunConfig.of(lr=0.1)


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: Recipe(momentum=1.0), r"momentum must be in \[0, 1\), got 1.0"),
        (lambda: Recipe(grad_accum=0), "grad_accum must be positive, got 0"),
        (lambda: Recipe(lr=float("inf")), "lr must be a positive finite number, got inf"),
        (lambda: Recipe(optimizer="adam"), "unknown optimizer 'adam'; choose one of sgd, adamw"),
        (lambda: Recipe(schedule="exp"), "unknown schedule 'exp'; choose one of constant, step"),
        (lambda: Recipe().replace(epochs=0), "epochs must be positive, got 0"),
        (lambda: DataConfig(channels=2), "channels must be 1 .* or 3"),
        (lambda: DataConfig(limit=(-1, None)), r"limit must be \(n_train, n_test\)"),
        (lambda: DataConfig(val_share=1.0), r"val_share must be in \[0, 1\)"),
        (lambda: ModelConfig(variant="vgg"), "unknown variant 'vgg'; choose one of paper"),
        (lambda: ModelConfig(init="orthogonal"), "unknown init 'orthogonal'"),
        (lambda: RunConfig(seed=-1), r"seed must be between 0 and 2\*\*32 - 1, got -1"),
        (lambda: RunConfig.of(epoch=2), "unknown setting 'epoch'; the settings are: seed, "),
        (lambda: RunConfig.of(channels=3), r"the data has 3 channel\(s\) but the model takes 1"),
    ],
)
def test_a_value_that_breaks_a_rule_says_which_and_why(make, words):
    with pytest.raises(ValueError, match=words):
        make()


def test_a_bad_flag_is_an_argparse_error_naming_the_flag(capsys):
    for flags, words in [
        (["--lr", "fast"], "argument --lr: 'fast' is not a float"),
        (["--lr", "-1"], "argument --lr: lr must be a positive finite number"),
        (["--epochs", "0"], "argument --epochs: epochs must be positive, got 0"),
        (["--optimizer", "adam"], "argument --optimizer: invalid choice: 'adam'"),
    ]:
        with pytest.raises(SystemExit) as exc:
            parser().parse_args(flags)
        assert exc.value.code == 2 and words in capsys.readouterr().err, flags


def test_a_model_of_your_own_needs_no_matching_channels():
    run = RunConfig.of(variant=None, channels=3)  # the trainer cannot check a model it did not name
    assert run.model.variant is None and run.data.channels == 3


@pytest.mark.parametrize(
    "run",
    [
        RunConfig(),
        RunConfig.of(
            variant=None,
            limit=(256, None),
            channels_last=False,
            seed=9,
            steps_per_epoch=3,
            schedule="cosine",
            size=28,
        ),
    ],
)
def test_as_dict_from_dict_round_trip(run):
    assert RunConfig.from_dict(run.as_dict()) == run
    through_json = json.loads(json.dumps(run.as_dict()))  # tuples come back as lists
    assert RunConfig.from_dict(through_json) == run
    assert set(run.as_dict()) == {"seed", *PARTS}
    for part, kind in PARTS.items():
        assert kind.from_dict(getattr(run, part).as_dict()) == getattr(run, part)


def test_from_dict_leaves_out_keys_it_does_not_know():
    saved = RunConfig.of(lr=0.1).as_dict()
    saved["recipe"]["seed"] = 4  # the seed lived in the recipe before
    saved["data"]["colour"] = "blue"
    assert RunConfig.from_dict(saved) == RunConfig.of(lr=0.1)
    assert RunConfig.from_dict({}) == RunConfig()


def test_differences_sorts_what_cannot_change_from_what_may():
    saved = RunConfig.of(epochs=3, lr=0.02, size=96, variant="cifar96", in_channels=3,
                         channels=3).as_dict()  # fmt: skip
    now = RunConfig.of(epochs=5, lr=0.01, size=128, variant="cifar96", in_channels=3, channels=3,
                       optimizer="adamw", schedule="cosine", num_classes=7, seed=2)  # fmt: skip
    cannot, may = config.differences(saved, now)
    assert cannot == [
        "model.num_classes: 10 → 7",
        "recipe.optimizer: sgd → adamw",
        "recipe.schedule: onecycle → cosine",
    ]
    assert may == ["seed: 0 → 2", "data.size: 96 → 128", "recipe.epochs: 3 → 5",
                   "recipe.lr: 0.02 → 0.01"]  # fmt: skip
    assert config.differences(saved, RunConfig.from_dict(saved)) == ([], [])
    assert all(f"{s}: " in " ".join(cannot) for s in config.STATE_SETTINGS)


def test_the_variant_and_init_names_match_the_models_module():
    """config keeps its own copy of these names, so that it does not import models (and torch)."""
    assert config.VARIANT_NAMES == tuple(models.VARIANTS)
    assert config.INIT_NAMES == tuple(sorted(models.INITS))
    code = "import sys, alexnet_lesson.config; print('alexnet_lesson.models' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
