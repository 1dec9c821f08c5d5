"""Shared fixtures: a small synthetic data set, and the real sample when it is there."""

import os

import pytest
from nets import bordered_images

from alexnet_lesson import data, env


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory):
    """A small synthetic Fashion-MNIST written as IDX files (read back through torchvision)."""
    return data.write_synthetic(tmp_path_factory.mktemp("fm-synthetic"), n_train=600, n_test=200)


@pytest.fixture(scope="session")
def real_files():
    """Real Fashion-MNIST images (the shared sample in CI); skips where there are none."""
    root = os.environ.get(env.DATA_VAR)
    if not root:
        pytest.skip(
            f"no real Fashion-MNIST: set ${env.DATA_VAR} to a folder with FashionMNIST/raw/"
        )
    try:
        files = data.open_fashion_mnist(root, download=False)
    except (data.DataUnavailableError, FileNotFoundError) as exc:
        pytest.skip(f"no real Fashion-MNIST under {root}: {exc}")
    if files.kind == "synthetic":
        pytest.skip("the data folder holds synthetic data, not real images")
    return files


@pytest.fixture(scope="session")
def images():
    """40 random 28×28 uint8 images with a black border, and labels (``nets.bordered_images``)."""
    return bordered_images(40)
