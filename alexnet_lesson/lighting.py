"""PCA lighting noise (lesson 07): the paper's colour augmentation (Krizhevsky et al. 2012, §4.1).

The paper runs a PCA on the RGB values of every training pixel and adds to each training image
``Σ_i α_i λ_i p_i``, where ``p_i`` and ``λ_i`` are the i-th eigenvector and eigenvalue of the 3×3
covariance of those values and ``α_i`` is drawn from N(0, 0.1) once per image and per
presentation. Every pixel of an image moves by the same colour vector: the image looks as if lit
by a slightly different light, which the class does not depend on (§4.1: top-1 error down by
over 1 %).

On one-channel images (Fashion-MNIST) the covariance is 1×1: the noise adds one random
brightness offset per image, proportional to the pixel variance.
"""

from __future__ import annotations

import torch

__all__ = ["PAPER_ALPHA_STD", "pixel_pca", "pca_lighting"]

PAPER_ALPHA_STD = 0.1
"""The standard deviation of the α_i (paper §4.1)."""


def pixel_pca(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues (descending) and eigenvectors (columns) of the channel covariance of all pixels.

    ``images``: float N×C×H×W. Returns ``(λ, P)`` with ``λ`` of shape C and ``P`` of shape C×C.

    Example:
        >>> x = torch.stack([torch.full((2, 2), v) for v in (0.0, 1.0)])[:, None].expand(2, 3, 2, 2)
        >>> lam, vecs = pixel_pca(x)
        >>> round(lam[0].item(), 3), [round(abs(v), 3) for v in vecs[:, 0].tolist()]
        (0.75, [0.577, 0.577, 0.577])
    """
    pixels = images.transpose(0, 1).reshape(images.shape[1], -1).double()
    cov = torch.cov(pixels, correction=0).reshape(len(pixels), len(pixels))  # 1×1 for grey
    values, vectors = torch.linalg.eigh(cov)  # ascending
    return values.flip(0).float(), vectors.flip(1).float()


def pca_lighting(
    images: torch.Tensor,
    eigenvalues: torch.Tensor,
    eigenvectors: torch.Tensor,
    alpha_std: float = PAPER_ALPHA_STD,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Add the paper's lighting noise: one colour offset ``P (α ⊙ λ)`` per image, α ~ N(0, std).

    Returns the new images and the offsets (N×C), so that a lesson can show what was added.

    Example:
        >>> x = torch.zeros(4, 3, 2, 2)
        >>> lam, vecs = torch.tensor([0.2, 0.02, 0.001]), torch.eye(3)
        >>> y, offset = pca_lighting(x, lam, vecs, generator=torch.Generator().manual_seed(0))
        >>> tuple(offset.shape), bool((y - offset[:, :, None, None]).abs().max() == 0)
        ((4, 3), True)
    """
    alphas = torch.randn(len(images), len(eigenvalues), generator=generator) * alpha_std
    offset = (alphas * eigenvalues) @ eigenvectors.T
    offset = offset.to(images.dtype).to(images.device)
    return images + offset[:, :, None, None], offset
