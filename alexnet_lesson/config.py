"""One run's configuration, as data (lesson 07): the model, the data, the recipe and the seed.

Everything that decides a training run lives in one frozen :class:`RunConfig`, made of a
:class:`ModelConfig`, a :class:`DataConfig`, a :class:`Recipe` and a ``seed``. It prints as a
table (:meth:`RunConfig.table`), fills from command-line flags (:func:`add_flags`,
:func:`from_flags`), is saved whole in every checkpoint (:meth:`RunConfig.as_dict`) and is compared
field by field on resume (:func:`differences`). Like nanoGPT's ``config`` saved beside its
``model_args``: a resumed run knows exactly what it was.

The seed decides all the randomness of a run: the initial weights (the model is built after
``torch.manual_seed(seed)``), the order of the batches and the augmentation draws (the trainer
hands it to the loader every epoch) and the dropout masks (the global generator, seeded by the
trainer). Two runs with the same configuration see the same numbers; two seeds differ in all four.

The recipe's momentum 0.9, weight decay 0.0005 and batch size 128 are the paper's (Krizhevsky et
al. 2012, §5).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from dataclasses import dataclass, field, fields

import pandas as pd

__all__ = [
    "AMP_CHOICES",
    "OPTIMIZERS",
    "SCHEDULES",
    "STATE_SETTINGS",
    "DataConfig",
    "ModelConfig",
    "Recipe",
    "RunConfig",
    "add_flags",
    "differences",
    "from_flags",
]

OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("constant", "step", "plateau", "cosine", "onecycle")
AMP_CHOICES = ("auto", "off", "bf16", "fp16")
"""``amp`` values: ``"auto"``: on CUDA, bf16 where the GPU computes it natively (compute capability
8.0 or more), else fp16 with a gradient scaler; off elsewhere. ``"off"``; ``"bf16"`` or ``"fp16"``
on any device."""
VARIANT_NAMES = ("paper", "paper_1gpu", "torchvision", "d2l", "caffe227", "cifar96")
"""The named AlexNet variants of :mod:`alexnet_lesson.models` (a test keeps the two lists equal)."""
INIT_NAMES = ("kaiming", "paper", "pytorch", "xavier")
"""The initialisations :func:`alexnet_lesson.models.alexnet` knows (a test keeps them equal)."""
STATE_SETTINGS = ("recipe.optimizer", "recipe.schedule")
"""Settings the saved optimizer and schedule state depend on: SGD's momentum buffers mean nothing
to AdamW, and a schedule's state means nothing to another kind of schedule, so a resume cannot
change them."""


def _setting(default: object, meaning: str, rule: tuple | None = None, choices: tuple = ()):
    return field(default=default, metadata={"meaning": meaning, "rule": rule, "choices": choices})


_POSITIVE = (lambda v: v > 0, "must be positive")
_FRACTION = (lambda v: 0 <= v < 1, "must be in [0, 1)")
_NOT_NEGATIVE = (lambda v: 0 <= v < math.inf, "must be a finite number, 0 or more")
_POSITIVE_FINITE = (lambda v: 0 < v < math.inf, "must be a positive finite number")
_CHANNELS = (lambda v: v in (1, 3), "must be 1 (grey) or 3 (the grey image repeated)")


class _Part:
    """What the four parts share: checked on creation, ``replace``, a dict, a table."""

    def __post_init__(self) -> None:
        for f in fields(self):  # type: ignore[arg-type]
            self.check(f.name, getattr(self, f.name))

    @classmethod
    def check(cls, name: str, value: object) -> None:
        """Raise ``ValueError`` saying what ``name`` must be when ``value`` breaks its rule.

        Example:
            >>> Recipe.check("lr", -1)  # doctest: +IGNORE_EXCEPTION_DETAIL
            Traceback (most recent call last):
            ValueError: lr must be a positive finite number, got -1
        """
        meta = {f.name: f.metadata for f in fields(cls)}[name]  # type: ignore[arg-type]
        if meta["choices"] and value not in meta["choices"]:
            choices = ", ".join(str(c) for c in meta["choices"])
            raise ValueError(f"unknown {name} {value!r}; choose one of {choices}")
        rule = meta["rule"]
        if rule is not None and value is not None and not rule[0](value):
            raise ValueError(f"{name} {rule[1]}, got {value!r}")

    def replace(self, **changes: object):
        """A copy with ``changes`` (checked like a new one).

        Example:
            >>> Recipe().replace(epochs=2).epochs
            2
        """
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, values: dict):
        """The part a checkpoint stored (keys this version does not know are left out)."""
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: _as_tuple(v) for k, v in values.items() if k in known})

    def table(self) -> pd.DataFrame:
        """One row per setting: its value and what it means.

        Example:
            >>> Recipe().table().loc["lr", "value"]
            0.02
        """
        rows = [(f.name, getattr(self, f.name), f.metadata["meaning"]) for f in fields(self)]  # type: ignore[arg-type]
        return pd.DataFrame(rows, columns=["setting", "value", "meaning"]).set_index("setting")


def _as_tuple(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value


@dataclass(frozen=True)
class ModelConfig(_Part):
    """Which model a run trains. ``variant=None`` names a model of your own (the lessons' small
    CNNs): the trainer then cannot rebuild it from a checkpoint, but records the rest.

    Example:
        >>> ModelConfig().variant, ModelConfig(variant="paper", in_channels=3).in_channels
        ('d2l', 3)
    """

    variant: str | None = _setting("d2l", "AlexNet variant (None: a model of your own)",
                                   choices=(*VARIANT_NAMES, None))  # fmt: skip
    init: str = _setting("kaiming", "initial weights' distribution", choices=INIT_NAMES)
    num_classes: int = _setting(10, "classes (Fashion-MNIST: 10)", _POSITIVE)
    in_channels: int = _setting(1, "input channels", _CHANNELS)


@dataclass(frozen=True)
class DataConfig(_Part):
    """What the model sees: input size, normalisation, augmentation, how many images, and the
    share held out for validation. Pixels are normalised with the training part's mean and
    standard deviation (measured, stored in the checkpoint) when ``normalise``.

    Example:
        >>> DataConfig(size=28, augment=False).size
        28
    """

    size: int = _setting(224, "input size in pixels (28×28 images are upsampled)", _POSITIVE)
    channels: int = _setting(1, "channels per image (3: the grey image repeated)", _CHANNELS)
    normalise: bool = _setting(True, "subtract the training mean, divide by its std")
    augment: bool = _setting(True, "random shift and horizontal flip of training images")
    pad: int = _setting(2, "largest random shift, in pixels at 28×28", _NOT_NEGATIVE)
    limit: tuple[int | None, int | None] = _setting(
        (None, None), "use only the first (train, test) images (None: all)"
    )
    val_share: float = _setting(0.1, "share of training images held out for validation", _FRACTION)

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "limit", tuple(self.limit))  # a list from JSON or the CLI
        if len(self.limit) != 2 or any(n is not None and n < 0 for n in self.limit):
            raise ValueError(f"limit must be (n_train, n_test), each None or ≥ 0; got {self.limit}")


@dataclass(frozen=True)
class Recipe(_Part):
    """Every hyperparameter of training. ``Recipe()`` is our default: SGD with the paper's
    momentum and weight decay (§5), a one-cycle schedule and label smoothing 0.1.

    Example:
        >>> Recipe(epochs=3).replace(lr=0.01).lr, Recipe().batch_size * Recipe().grad_accum
        (0.01, 128)
        >>> Recipe(optimizer="adam")  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        ValueError: unknown optimizer 'adam'; choose one of sgd, adamw
    """

    epochs: int = _setting(10, "passes over the training data", _POSITIVE)
    batch_size: int = _setting(128, "images per batch (paper §5: 128)", _POSITIVE)
    lr: float = _setting(0.02, "peak learning rate", _POSITIVE_FINITE)
    optimizer: str = _setting("sgd", "sgd (with momentum) or adamw", choices=OPTIMIZERS)
    momentum: float = _setting(0.9, "SGD momentum (paper §5: 0.9)", _FRACTION)
    weight_decay: float = _setting(5e-4, "weight decay (paper §5: 0.0005)", _NOT_NEGATIVE)
    schedule: str = _setting("onecycle", "learning-rate schedule (see lr_factor)",
                             choices=SCHEDULES)  # fmt: skip
    label_smoothing: float = _setting(0.1, "label smoothing of the training loss", _FRACTION)
    grad_accum: int = _setting(1, "batches whose gradients add up to one step", _POSITIVE)
    amp: str = _setting("auto", "mixed precision (see AMP_CHOICES)", choices=AMP_CHOICES)
    channels_last: bool | None = _setting(None, "channels-last layout (None: on CUDA only)")
    compile: bool = _setting(False, "torch.compile the model")
    steps_per_epoch: int | None = _setting(None, "batches per epoch at most (None: all)", _POSITIVE)


_PARTS = {"model": ModelConfig, "data": DataConfig, "recipe": Recipe}
_SEED = (lambda v: 0 <= v < 2**32, "must be between 0 and 2**32 - 1")


@dataclass(frozen=True)
class RunConfig:
    """Everything that decides a run: ``model``, ``data``, ``recipe`` and ``seed``.

    :meth:`of` and :meth:`replace` take the settings by their own names (each name belongs to
    one part), so ``RunConfig.of(epochs=2, size=28, seed=1)`` needs no nesting.

    Example:
        >>> c = RunConfig.of(epochs=2, size=28, seed=1)
        >>> c.recipe.epochs, c.data.size, c.seed, c.replace(lr=0.1).recipe.lr
        (2, 28, 1, 0.1)
        >>> RunConfig.of(epoch=2)  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        ValueError: unknown setting 'epoch'; the settings are: seed, variant, ...
    """

    model: ModelConfig = ModelConfig()
    data: DataConfig = DataConfig()
    recipe: Recipe = Recipe()
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.seed, int) or not _SEED[0](self.seed):
            raise ValueError(f"seed {_SEED[1]}, got {self.seed!r}")
        if self.model.variant is not None and self.data.channels != self.model.in_channels:
            raise ValueError(
                f"the data has {self.data.channels} channel(s) but the model takes "
                f"{self.model.in_channels}: set channels={self.model.in_channels}"
            )

    @classmethod
    def of(cls, **settings: object) -> RunConfig:
        """A configuration with ``settings`` changed from the defaults (flat names)."""
        return cls().replace(**settings)

    def replace(self, **settings: object) -> RunConfig:
        """A copy with ``settings`` changed; each name is a setting of one part, or ``seed``."""
        owner = _owners()
        unknown = [k for k in settings if k not in owner]
        if unknown:
            raise ValueError(
                f"unknown setting {unknown[0]!r}; the settings are: {', '.join(owner)}"
            )
        changes: dict = {"seed": settings["seed"]} if "seed" in settings else {}
        for part in _PARTS:
            mine = {k: v for k, v in settings.items() if owner[k] == part}
            if mine:
                changes[part] = getattr(self, part).replace(**mine)
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict:
        """Nested plain data (what checkpoints store).

        Example:
            >>> RunConfig().as_dict()["recipe"]["schedule"], RunConfig().as_dict()["seed"]
            ('onecycle', 0)
        """
        return {"seed": self.seed, **{part: getattr(self, part).as_dict() for part in _PARTS}}

    @classmethod
    def from_dict(cls, values: dict) -> RunConfig:
        """The configuration a checkpoint stored (unknown keys are left out).

        Example:
            >>> RunConfig.from_dict(RunConfig.of(lr=0.1).as_dict()) == RunConfig.of(lr=0.1)
            True
        """
        parts = {p: kind.from_dict(values.get(p, {})) for p, kind in _PARTS.items()}
        return cls(seed=int(values.get("seed", 0)), **parts)

    def flat(self) -> dict:
        """Every setting by its dotted name (``recipe.lr``) and its value."""
        return {"seed": self.seed} | {
            f"{part}.{k}": v for part in _PARTS for k, v in getattr(self, part).as_dict().items()
        }

    def table(self) -> pd.DataFrame:
        """One row per setting: part, value and meaning.

        Example:
            >>> t = RunConfig().table(); t.loc["lr", "part"], t.loc["seed", "value"]
            ('recipe', 0)
        """
        seed = pd.DataFrame(
            [("seed", self.seed, "initial weights, batch order, augmentation, dropout")],
            columns=["setting", "value", "meaning"],
        ).set_index("setting")
        tables = [getattr(self, p).table().assign(part=p) for p in _PARTS]
        out = pd.concat([seed.assign(part="run"), *tables])
        return out[["part", "value", "meaning"]]


def _owners() -> dict[str, str]:
    """Each setting's name → the part it belongs to (``seed`` → ``"run"``)."""
    owner = {"seed": "run"}
    for part, kind in _PARTS.items():
        owner.update({f.name: part for f in fields(kind)})
    return owner


def differences(saved: dict, now: RunConfig) -> tuple[list[str], list[str]]:
    """What resuming a run saved with configuration ``saved`` (a dict) as ``now`` would change:
    the changes that cannot work (another model, optimizer or schedule) and those a learner may
    mean (more epochs, another learning rate, more data, …), one line each.

    Example:
        >>> old = RunConfig.of(epochs=3).as_dict()
        >>> differences(old, RunConfig.of(epochs=5, optimizer="adamw"))
        (['recipe.optimizer: sgd → adamw'], ['recipe.epochs: 3 → 5'])
    """
    before = RunConfig.from_dict(saved).flat()
    cannot, may = [], []
    for name, value in now.flat().items():
        if before[name] != value:
            line = f"{name}: {before[name]} → {value}"
            fixed = name.startswith("model.") or name in STATE_SETTINGS
            (cannot if fixed else may).append(line)
    return cannot, may


# --------------------------------------------------------------------------- command-line flags


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _parse(kind: type, name: str, part: type):
    def parse(text: str) -> object:
        if kind is not str and text.lower() == "none":
            value = None
        else:
            try:
                value = kind(text)
            except ValueError:
                raise argparse.ArgumentTypeError(f"{text!r} is not a {kind.__name__}") from None
        try:
            part.check(name, value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return value

    return parse


def _parse_seed(text: str) -> int:
    try:
        seed = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an int") from None
    if not _SEED[0](seed):
        raise argparse.ArgumentTypeError(f"seed {_SEED[1]}, got {seed}")
    return seed


def add_flags(parser: argparse.ArgumentParser, skip: tuple[str, ...] = ()) -> None:
    """One flag per setting (``--lr``, ``--size``, ``--seed``, …), grouped by part; an unset flag
    stays None, so :func:`from_flags` keeps the default. ``skip`` leaves settings out.

    Example:
        >>> p = argparse.ArgumentParser(); add_flags(p)
        >>> p.parse_args(["--lr", "0.1", "--no-augment"]).lr
        0.1
    """
    seed_help = "seeds initial weights, batch order, augmentation and dropout (default: 0)"
    parser.add_argument("--seed", type=_parse_seed, help=seed_help)
    for part, kind in _PARTS.items():
        group = parser.add_argument_group(f"{part} (alexnet_lesson.config.{kind.__name__})")
        for f in fields(kind):
            if f.name in skip or f.name == "limit":
                continue
            meta = f.metadata
            text = f"{meta['meaning']} (default: {f.default})"
            if f.type.startswith("bool"):
                group.add_argument(_flag(f.name), action=argparse.BooleanOptionalAction, help=text)
            elif meta["choices"]:
                group.add_argument(_flag(f.name), choices=[c for c in meta["choices"] if c],
                                   help=text)  # fmt: skip
            else:
                number = int if f.type.startswith("int") else float
                group.add_argument(_flag(f.name), type=_parse(number, f.name, kind), help=text)


def from_flags(args: argparse.Namespace, base: RunConfig | None = None) -> RunConfig:
    """``base`` (default ``RunConfig()``) with every flag the user gave.

    Example:
        >>> p = argparse.ArgumentParser(); add_flags(p)
        >>> from_flags(p.parse_args(["--epochs", "2", "--seed", "7"])).replace(lr=0.1).seed
        7
    """
    given = {k: getattr(args, k) for k in _owners() if getattr(args, k, None) is not None}
    return (base or RunConfig()).replace(**given)
