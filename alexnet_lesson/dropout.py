"""Dropout, lesson 05: the paper's version (§4.2: zero half the fc6/fc7 units while training,
multiply outputs by 0.5 at test time) and the modern inverted one written out, their statistics,
a dropout layer from scratch, the ``F.dropout`` pitfall, and a table of dropout's statistics.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "inverted_dropout",
    "paper_dropout",
    "dropout_statistics",
    "dropout_table",
    "ScratchDropout",
    "DropoutPitfallNet",
]


def inverted_dropout(
    x: torch.Tensor, p: float = 0.5, training: bool = True, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Modern ("inverted") dropout: zero each value with probability p and divide the survivors
    by 1 − p while training, so that the expected value is unchanged; do nothing at test time.

    Example:
        >>> y = inverted_dropout(torch.ones(1000), 0.5, generator=torch.Generator().manual_seed(0))
        >>> sorted(set(y.tolist()))  # dropped, or kept and scaled by 1 / (1 - p)
        [0.0, 2.0]
        >>> inverted_dropout(torch.ones(4), 0.5, training=False)
        tensor([1., 1., 1., 1.])
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability must be between 0 and 1, got {p}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return torch.zeros_like(x)
    keep = torch.rand(x.shape, generator=generator, device=x.device) >= p
    return x * keep / (1.0 - p)


def paper_dropout(
    x: torch.Tensor, p: float = 0.5, training: bool = True, generator: torch.Generator | None = None
) -> torch.Tensor:
    """The paper's dropout (§4.2): zero with probability p while training, no rescaling; at test
    time keep every unit and multiply by 1 − p (×0.5 for p = 0.5).

    Example:
        >>> paper_dropout(torch.ones(3), 0.5, training=False)
        tensor([0.5000, 0.5000, 0.5000])
    """
    if not training:
        return x * (1.0 - p)
    keep = torch.rand(x.shape, generator=generator, device=x.device) >= p
    return x * keep


def dropout_statistics(
    fn, x: torch.Tensor, p: float = 0.5, samples: int = 1000, seed: int = 0
) -> dict[str, float]:
    """Mean output, fraction zeroed and value of the survivors of a dropout function over many draws.

    ``fn`` is called as ``fn(x, p, generator)``; for ``nn.Dropout`` pass
    ``lambda x, p, g: torch.nn.functional.dropout(x, p, training=True)`` (it uses the global RNG,
    which is seeded here too).

    Example:
        >>> s = dropout_statistics(inverted_dropout, torch.ones(100), 0.5, samples=200)
        >>> round(s["mean"], 1), round(s["survivor value"], 1)
        (1.0, 2.0)
    """
    torch.manual_seed(seed)
    g = torch.Generator(device=x.device).manual_seed(seed)
    out = torch.stack([fn(x, p, g) for _ in range(samples)])
    zero = out == 0
    return {
        "mean": out.mean().item(),
        "input mean": x.mean().item(),
        "fraction zeroed": zero.double().mean().item(),
        "survivor value": (out[~zero] / x.expand_as(out)[~zero]).mean().item()
        if (~zero).any()
        else float("nan"),
    }


class ScratchDropout(nn.Module):
    """:func:`inverted_dropout` as a layer that follows ``model.train()`` / ``model.eval()``.

    Example:
        >>> layer = ScratchDropout(0.5).eval()
        >>> layer(torch.ones(3))
        tensor([1., 1., 1.])
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return inverted_dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class DropoutPitfallNet(nn.Module):
    """A two-layer MLP that calls ``F.dropout`` inside ``forward``.

    With ``fixed=False`` it writes ``F.dropout(h, p)``, whose ``training`` argument defaults to
    True, so dropout stays on after ``model.eval()``; ``fixed=True`` passes
    ``training=self.training``.

    Example:
        >>> net = DropoutPitfallNet(fixed=True, seed=0).eval()
        >>> x = torch.ones(1, 8)
        >>> torch.equal(net(x), net(x))
        True
    """

    def __init__(
        self, fixed: bool = False, p: float = 0.5, sizes=(8, 64, 3), seed: int = 0
    ) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.fc1, self.fc2 = nn.Linear(sizes[0], sizes[1]), nn.Linear(sizes[1], sizes[2])
        self.fixed, self.p = fixed, p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.fc1(x))
        if self.fixed:
            h = F.dropout(h, self.p, training=self.training)
        else:
            h = F.dropout(h, self.p)  # the pitfall: training defaults to True
        return self.fc2(h)


def dropout_table(
    versions: dict[str, Callable],
    x: torch.Tensor,
    p: float = 0.5,
    samples: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """:func:`dropout_statistics` of several dropout functions, one row per version.

    Example:
        >>> t = dropout_table({"inverted": inverted_dropout, "paper": paper_dropout}, torch.ones(100))
        >>> t["mean"].round(1).to_dict()
        {'inverted': 1.0, 'paper': 0.5}
    """
    return pd.DataFrame(
        {
            name: dropout_statistics(fn, x, p, samples=samples, seed=seed)
            for name, fn in versions.items()
        }
    ).T
