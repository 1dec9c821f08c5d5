"""The AlexNet variants the lessons compare, as short ``nn.Sequential`` stories.

Layer names follow the paper (conv1…conv5, fc6…fc8). Every variant checks its input: a wrong
size fails at once with a message that says which sizes would work (computed by
:func:`alexnet_lesson.shapes.accepted_sizes`, not written down by hand).

Sources: Krizhevsky, Sutskever & Hinton, NeurIPS 2012 (the paper, §3.3–3.5, §5);
``torchvision.models.alexnet`` (Krizhevsky 2014, "One weird trick…"); the d2l.ai AlexNet chapter.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from alexnet_lesson.shapes import accepted_sizes, format_ranges, trace

__all__ = [
    "LRN_K",
    "LRN_N",
    "LRN_ALPHA",
    "LRN_BETA",
    "InputSizeError",
    "paper_lrn",
    "AlexNet",
    "Variant",
    "VARIANTS",
    "INITS",
    "init_paper",
    "init_kaiming",
    "init_xavier",
    "alexnet",
    "variants",
]

# §3.3: k = 2, n = 5, α = 1e-4, β = 0.75. PyTorch divides alpha by size, so it gets α·n.
LRN_K, LRN_N, LRN_ALPHA, LRN_BETA = 2.0, 5, 1e-4, 0.75


class InputSizeError(ValueError):
    """An input whose size or channel count the variant cannot take."""


def paper_lrn() -> nn.LocalResponseNorm:
    """The paper's local response normalisation (§3.3) in PyTorch's parametrisation.

    Example:
        >>> paper_lrn()
        LocalResponseNorm(5, alpha=0.0005, beta=0.75, k=2.0)
    """
    return nn.LocalResponseNorm(LRN_N, alpha=LRN_ALPHA * LRN_N, beta=LRN_BETA, k=LRN_K)


class AlexNet(nn.Sequential):
    """An ``nn.Sequential`` that knows its variant and input size and refuses inputs it cannot take.

    Example:
        >>> net = alexnet("d2l")
        >>> net(torch.zeros(2, 1, 224, 224)).shape
        torch.Size([2, 10])
    """

    def __init__(
        self, layers: OrderedDict, variant: str, in_channels: int, input_size: int
    ) -> None:
        super().__init__(layers)
        self.variant, self.in_channels, self.input_size = variant, in_channels, input_size
        self._ok_shapes: set[tuple[int, int, int]] = set()

    def accepted_sizes(self) -> list[tuple[int, int]]:
        """Square input sizes this model accepts, as inclusive (low, high) ranges."""
        return accepted_sizes(self, self.in_channels)

    def check_input(self, x: torch.Tensor) -> None:
        """Raise :class:`InputSizeError` unless ``x`` is a batch this model can take."""
        shape = tuple(x.shape[1:])
        if shape in self._ok_shapes:
            return
        want = f"{self.in_channels}×{self.input_size}×{self.input_size}"
        if x.dim() != 4:
            raise InputSizeError(
                f"AlexNet variant '{self.variant}' takes a batch N×C×H×W (e.g. N×{want}), "
                f"got a tensor of shape {tuple(x.shape)}; add a batch axis with x.unsqueeze(0)."
            )
        result = trace(self, shape)
        if not result.ok:
            got = "×".join(map(str, shape))
            raise InputSizeError(
                f"AlexNet variant '{self.variant}' cannot take a {got} input: {result.error}. "
                f"It needs {self.in_channels} channel(s) and accepts square inputs of "
                f"{format_ranges(self.accepted_sizes())} (designed for {want})."
            )
        self._ok_shapes.add(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (torch.jit.is_tracing() or torch.compiler.is_compiling()):
            self.check_input(x)
        return super().forward(x)


def _classifier(flat: int, hidden: tuple[int, int], classes: int, dropout_first: bool) -> list:
    """fc6 → fc7 → fc8, with dropout 0.5 on fc6's and fc7's inputs or outputs (§4.2)."""
    h6, h7 = hidden
    if dropout_first:  # torchvision: dropout *before* fc6 and fc7
        return [
            ("flatten", nn.Flatten()),
            ("drop6", nn.Dropout(0.5)), ("fc6", nn.Linear(flat, h6)), ("relu6", nn.ReLU(inplace=True)),
            ("drop7", nn.Dropout(0.5)), ("fc7", nn.Linear(h6, h7)), ("relu7", nn.ReLU(inplace=True)),
            ("fc8", nn.Linear(h7, classes)),
        ]  # fmt: skip
    return [  # the paper and d2l: dropout on the outputs of fc6 and fc7
        ("flatten", nn.Flatten()),
        ("fc6", nn.Linear(flat, h6)), ("relu6", nn.ReLU(inplace=True)), ("drop6", nn.Dropout(0.5)),
        ("fc7", nn.Linear(h6, h7)), ("relu7", nn.ReLU(inplace=True)), ("drop7", nn.Dropout(0.5)),
        ("fc8", nn.Linear(h7, classes)),
    ]  # fmt: skip


def _features(
    in_channels: int,
    widths: tuple[int, int, int, int, int],
    conv1_padding: int = 0,
    groups: int = 1,
    lrn: bool = False,
) -> list:
    """conv1…conv5 with ReLUs and max-pools 3/2 after conv1, conv2 and conv5 (§3.4, §3.5).

    ``lrn`` puts the paper's LRN after the ReLUs of conv1 and conv2 (§3.3); ``groups=2`` splits
    conv2, conv4 and conv5 over the paper's two GPUs (§3.2).
    """
    c1, c2, c3, c4, c5 = widths

    def norm(i: int) -> list:
        return [(f"lrn{i}", paper_lrn())] if lrn else []

    return [
        ("conv1", nn.Conv2d(in_channels, c1, 11, stride=4, padding=conv1_padding)),
        ("relu1", nn.ReLU(inplace=True)), *norm(1), ("pool1", nn.MaxPool2d(3, 2)),
        ("conv2", nn.Conv2d(c1, c2, 5, padding=2, groups=groups)),
        ("relu2", nn.ReLU(inplace=True)), *norm(2), ("pool2", nn.MaxPool2d(3, 2)),
        ("conv3", nn.Conv2d(c2, c3, 3, padding=1)), ("relu3", nn.ReLU(inplace=True)),
        ("conv4", nn.Conv2d(c3, c4, 3, padding=1, groups=groups)), ("relu4", nn.ReLU(inplace=True)),
        ("conv5", nn.Conv2d(c4, c5, 3, padding=1, groups=groups)), ("relu5", nn.ReLU(inplace=True)),
        ("pool5", nn.MaxPool2d(3, 2)),
    ]  # fmt: skip


_PAPER_WIDTHS = (96, 256, 384, 384, 256)  # §3.5
_TORCHVISION_WIDTHS = (64, 192, 384, 256, 256)  # "One weird trick" (2014)


def _paper(in_channels: int, classes: int, groups: int = 2) -> list:
    """§3.5 and Figure 2: ReLU → LRN → max-pool after conv1 and conv2; groups=2 is the two-GPU split."""
    return [
        *_features(in_channels, _PAPER_WIDTHS, groups=groups, lrn=True),
        *_classifier(256 * 6 * 6, (4096, 4096), classes, dropout_first=False),
    ]


def _torchvision(in_channels: int, classes: int, hidden: tuple[int, int] = (4096, 4096)) -> list:
    """torchvision's layout: 64-192-384-256-256 channels, conv1 padding 2, no LRN, an adaptive
    average pool to 6×6, dropout before fc6 and fc7."""
    return [
        *_features(in_channels, _TORCHVISION_WIDTHS, conv1_padding=2),
        ("avgpool", nn.AdaptiveAvgPool2d((6, 6))),
        *_classifier(256 * 6 * 6, hidden, classes, dropout_first=True),
    ]


def _plain(in_channels: int, classes: int, conv1_padding: int, flat: int) -> list:
    """The single-GPU, no-LRN layout of d2l (padding 1, 224 px) and CaffeNet-style posts (227 px)."""
    return [
        *_features(in_channels, _PAPER_WIDTHS, conv1_padding=conv1_padding),
        *_classifier(flat, (4096, 4096), classes, dropout_first=False),
    ]


@dataclass(frozen=True)
class Variant:
    """One entry of the registry: how to build a variant and what input it was designed for."""

    name: str
    in_channels: int
    input_size: int
    num_classes: int
    layers: Callable[[int, int], list]
    description: str

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """The design input (C, H, W)."""
        return (self.in_channels, self.input_size, self.input_size)


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in [
        Variant("paper", 3, 227, 1000, _paper,
                "Krizhevsky et al. 2012: LRN after conv1/conv2, groups=2 (two GPUs), 227 px"),
        Variant("paper_1gpu", 3, 227, 1000, lambda c, n: _paper(c, n, groups=1),
                "the paper's layout on one GPU: as 'paper' but groups=1 (every kernel sees all channels)"),
        Variant("torchvision", 3, 224, 1000, _torchvision,
                "torchvision.models.alexnet ('One weird trick', 2014): 64-192-384-256-256, adaptive pool"),
        Variant("d2l", 1, 224, 10, lambda c, n: _plain(c, n, conv1_padding=1, flat=256 * 5 * 5),
                "d2l.ai: Fashion-MNIST at 224, conv1 padding 1, flatten 6400, no LRN"),
        Variant("caffe227", 1, 227, 10, lambda c, n: _plain(c, n, conv1_padding=0, flat=256 * 6 * 6),
                "CaffeNet-style blog layout: 227 px, conv1 no padding, flatten 9216, no LRN"),
        Variant("cifar96", 3, 96, 10, lambda c, n: _torchvision(c, n, hidden=(4096, 1024)),
                "torchvision widths on 96 px CIFAR-10, adaptive pool to 6×6, fc 4096→1024→10"),
    ]
}  # fmt: skip


def init_paper(model: nn.Module) -> nn.Module:
    """§5: weights from N(0, 0.01); biases 1 in conv2, conv4, conv5, fc6 and fc7, 0 elsewhere.

    Example:
        >>> float(init_paper(alexnet("paper", init="pytorch")).conv2.bias.detach()[0])
        1.0
    """
    ones = {"conv2", "conv4", "conv5", "fc6", "fc7"}
    for name, layer in model.named_children():
        if isinstance(layer, nn.Conv2d | nn.Linear):
            nn.init.normal_(layer.weight, 0.0, 0.01)
            nn.init.constant_(layer.bias, 1.0 if name in ones else 0.0)
    return model


def init_kaiming(model: nn.Module) -> nn.Module:
    """He et al. 2015, the default: variance kept through the ReLUs, so plain SGD learns at once.

    Convolutions get N(0, 2/fan_out) (as torchvision initialises VGG and ResNet), fc6 and fc7
    N(0, 2/fan_in), fc8 N(0, 0.01); biases are zero. With PyTorch's per-layer defaults instead,
    plain SGD at lr 0.01 sits at the chance loss ln 10 ≈ 2.30 (tests/test_models.py shows both).

    Example:
        >>> float(init_kaiming(alexnet("d2l")).conv1.bias.detach().abs().sum())
        0.0
    """
    layers = [m for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    for layer in layers:
        if isinstance(layer, nn.Conv2d):
            nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
        elif layer is layers[-1]:
            nn.init.normal_(layer.weight, 0.0, 0.01)
        else:
            nn.init.kaiming_normal_(layer.weight, mode="fan_in", nonlinearity="relu")
        nn.init.zeros_(layer.bias)
    return model


def init_xavier(model: nn.Module) -> nn.Module:
    """Glorot & Bengio 2010 uniform weights, as ``d2l.train_ch6`` applies; zero biases.

    Example:
        >>> float(init_xavier(alexnet("d2l")).fc8.bias.detach().abs().sum())
        0.0
    """
    for m in model.modules():
        if isinstance(m, nn.Conv2d | nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    return model


INITS: dict[str, Callable[[nn.Module], nn.Module]] = {
    "kaiming": init_kaiming,
    "paper": init_paper,
    "xavier": init_xavier,
    "pytorch": lambda m: m,  # PyTorch's own per-layer defaults
}


def alexnet(
    variant: str = "d2l",
    num_classes: int | None = None,
    in_channels: int | None = None,
    init: str = "kaiming",
    seed: int | None = None,
) -> AlexNet:
    """Build an AlexNet variant by name (see :data:`VARIANTS` or :func:`variants`).

    Args:
        variant: ``"paper"``, ``"paper_1gpu"``, ``"torchvision"``, ``"d2l"``, ``"caffe227"``, ``"cifar96"``.
        num_classes: output classes (default: the variant's own, 1000 or 10).
        in_channels: input channels (default: the variant's own, 3 or 1).
        init: ``"kaiming"`` (default), ``"paper"``, ``"xavier"`` (d2l's) or ``"pytorch"``.
        seed: seed the weights' random numbers, for a reproducible model.

    Example:
        >>> alexnet("paper").conv2
        Conv2d(96, 256, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2), groups=2)
    """
    if variant not in VARIANTS:
        raise ValueError(
            f"unknown AlexNet variant {variant!r}; choose one of {', '.join(VARIANTS)}"
        )
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; choose one of {', '.join(INITS)}")
    v = VARIANTS[variant]
    channels = v.in_channels if in_channels is None else in_channels
    classes = v.num_classes if num_classes is None else num_classes
    if seed is not None:
        torch.manual_seed(seed)
    model = AlexNet(OrderedDict(v.layers(channels, classes)), variant, channels, v.input_size)
    return INITS[init](model)  # type: ignore[return-value]


def variants() -> list[dict]:
    """The registry as rows (name, input C×H×W, classes, accepted sizes, description).

    Example:
        >>> [row["variant"] for row in variants()][:3]
        ['paper', 'paper_1gpu', 'torchvision']
    """
    rows = []
    for v in VARIANTS.values():
        with torch.device("meta"):  # only the layers' shapes matter: no memory, no init time
            model = alexnet(v.name, init="pytorch")
        rows.append(
            {
                "variant": v.name,
                "input": f"{v.in_channels}×{v.input_size}×{v.input_size}",
                "classes": v.num_classes,
                "accepts": format_ranges(model.accepted_sizes()),
                "description": v.description,
            }
        )
    return rows
