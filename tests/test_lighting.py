"""PCA lighting noise (paper §4.1): the PCA of pixel colours and the per-image colour offset."""

import numpy as np
import torch

from alexnet_lesson.lighting import PAPER_ALPHA_STD, pca_lighting, pixel_pca


def test_pca_matches_numpy_and_orders_by_variance():
    g = torch.Generator().manual_seed(1)
    base = torch.rand(6, 1, 5, 5, generator=g)
    x = torch.cat([base, 0.5 * base + 0.1 * torch.rand(6, 1, 5, 5, generator=g),
                   torch.rand(6, 1, 5, 5, generator=g) * 0.01], dim=1)  # fmt: skip
    lam, vecs = pixel_pca(x)
    pixels = x.transpose(0, 1).reshape(3, -1).double().numpy()
    want = np.sort(np.linalg.eigvalsh(np.cov(pixels, bias=True)))[::-1]
    assert np.allclose(lam.numpy(), want, rtol=1e-5) and lam[0] > lam[1] > lam[2]
    assert torch.allclose(vecs.T @ vecs, torch.eye(3), atol=1e-5)  # orthonormal


def test_offset_is_one_colour_per_image_with_the_papers_formula():
    x = torch.rand(5, 3, 4, 4)
    lam, vecs = pixel_pca(x)
    y, offset = pca_lighting(x, lam, vecs, generator=torch.Generator().manual_seed(3))
    alphas = torch.randn(5, 3, generator=torch.Generator().manual_seed(3)) * PAPER_ALPHA_STD
    assert torch.allclose(offset, (alphas * lam) @ vecs.T)
    diff = y - x
    assert torch.allclose(
        diff, diff[:, :, :1, :1].expand_as(diff), atol=1e-6
    )  # the same for every pixel


def test_grey_images_get_a_brightness_offset_scaled_by_their_variance():
    x = torch.rand(8, 1, 6, 6)
    lam, vecs = pixel_pca(x)
    assert torch.isclose(lam[0], x.var(unbiased=False), rtol=1e-4) and vecs.abs().item() == 1
    _, offset = pca_lighting(x, lam, vecs, alpha_std=0.0)
    assert offset.abs().max() == 0  # no noise at α's standard deviation 0
