"""The data layer: IDX files, offline behaviour, synthetic data, the two batch paths."""

import socket
import time

import numpy as np
import pytest
import torch
from torchvision.datasets import FashionMNIST

from alexnet_lesson import data, env
from alexnet_lesson.config import DataConfig
from alexnet_lesson.data import Images


def test_idx_round_trip(tmp_path):
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    assert np.array_equal(data.read_idx(data.write_idx(tmp_path / "a-idx3-ubyte", a)), a)


def test_synthetic_is_read_by_torchvision(synthetic):
    ds = FashionMNIST(str(synthetic.root), train=True, download=False)
    assert len(ds) == 600 and ds.data.shape == (600, 28, 28) and ds.data.dtype == torch.uint8
    assert torch.bincount(ds.targets, minlength=10).tolist() == [60] * 10
    assert synthetic.kind == "synthetic" and "SYNTHETIC" in synthetic.describe()


def test_synthetic_is_deterministic():
    a, b = data.make_synthetic(50, seed=7), data.make_synthetic(50, seed=7)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], data.make_synthetic(50, seed=8)[0])


def test_synthetic_classes_differ():
    x, y = data.make_synthetic(500, seed=0)
    means = np.stack([x[y == c].mean(0) for c in range(10)]).reshape(10, -1)
    dists = np.linalg.norm(means[:, None] - means[None], axis=-1)
    assert dists[~np.eye(10, dtype=bool)].min() > 200  # every pair of class means is far apart


@pytest.mark.slow
def test_small_cnn_learns_synthetic_data(synthetic):
    torch.manual_seed(0)
    (xtr, ytr), (xte, yte) = data.load_split(synthetic, True), data.load_split(synthetic, False)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 5, padding=2), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 5, padding=2), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(32 * 7 * 7, 10),
    )  # fmt: skip
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    loader = data.DeviceLoader(Images(xtr, ytr), DataConfig(size=28, augment=False), 50, train=True)
    for _ in range(3):
        for xb, yb in loader:
            loss = torch.nn.functional.cross_entropy(net(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        acc = (net(xte.unsqueeze(1).float() / 255).argmax(1) == yte).float().mean().item()
    assert acc > 0.8  # chance is 0.1; over 8 seeds (init and shuffle), 1 thread: ≥ 0.965


def test_truncated_file_names_the_file(synthetic, tmp_path):
    files = data.write_synthetic(tmp_path, n_train=20, n_test=10)
    path = data.raw_dir(files.root) / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(data.IDXFormatError, match="train-images-idx3-ubyte.*truncated"):
        data.open_fashion_mnist(files.root, download=False)


def test_wrong_magic_names_the_file(tmp_path):
    files = data.write_synthetic(tmp_path, n_train=20, n_test=10)
    path = data.raw_dir(files.root) / "t10k-labels-idx1-ubyte"
    path.write_bytes(b"<html>404</html>")
    with pytest.raises(data.IDXFormatError, match="t10k-labels-idx1-ubyte is not an IDX file"):
        data.check_idx_files(files.root)


def test_label_count_mismatch(tmp_path):
    files = data.write_synthetic(tmp_path, n_train=20, n_test=10)
    data.write_idx(data.raw_dir(files.root) / "train-labels-idx1-ubyte", np.zeros(19, np.uint8))
    with pytest.raises(data.IDXFormatError, match="19 labels for 20 images"):
        data.check_idx_files(files.root)


@pytest.fixture
def offline(monkeypatch):
    """No network: every connection attempt fails at once, as on an offline machine."""

    def refuse(*args, **kwargs):
        raise OSError("network is unreachable (simulated)")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_offline_error_is_fast_and_says_what_to_do(tmp_path, offline):
    start = time.monotonic()
    with pytest.raises(data.DataUnavailableError) as err:
        data.open_fashion_mnist(tmp_path, download=True)
    assert time.monotonic() - start < 5
    msg = str(err.value)
    assert str(data.raw_dir(tmp_path)) in msg
    assert "train-images-idx3-ubyte" in msg and "synthetic" in msg and env.DATA_VAR in msg


def test_hanging_server_times_out(tmp_path, monkeypatch):
    """A server that never answers: the probe gives up after `timeout` seconds."""

    def hang(address, timeout=None, *args, **kwargs):
        time.sleep(min(timeout or 60, 60))
        raise TimeoutError("timed out (simulated)")

    monkeypatch.setattr(socket, "create_connection", hang)
    start = time.monotonic()
    with pytest.raises(data.DataUnavailableError, match="within 0.5 s"):
        data.open_fashion_mnist(tmp_path, download=True, timeout=0.5)
    assert time.monotonic() - start < 5


def test_offline_fallback_to_synthetic(tmp_path, offline, capsys):
    files = data.open_fashion_mnist(tmp_path, download=True, fallback="synthetic")
    assert files.kind == "synthetic" and files.root == tmp_path / "synthetic"
    assert "SYNTHETIC" in capsys.readouterr().out
    assert data.open_fashion_mnist(tmp_path, download=False, fallback="synthetic") == files


def test_gz_files_are_unpacked(tmp_path):
    import gzip

    files = data.write_synthetic(tmp_path / "a", n_train=20, n_test=10)
    raw = data.raw_dir(tmp_path / "b")
    raw.mkdir(parents=True)
    for pair in data.IDX_FILES.values():
        for name in pair:
            (raw / (name + ".gz")).write_bytes(
                gzip.compress((data.raw_dir(files.root) / name).read_bytes())
            )
    assert data.check_idx_files(tmp_path / "b") == (20, 10)


def test_data_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv(env.DATA_VAR, str(tmp_path / "env"))
    assert data.data_dir() == tmp_path / "env"
    assert data.data_dir(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.delenv(env.DATA_VAR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert data.data_dir() == tmp_path / "cache" / "alexnet-lesson" / "data"


def test_device_loader_shapes_and_epochs(synthetic):
    train, _, test, _ = data.splits(synthetic, DataConfig(val_share=0), batch_size=128)
    xb, yb = next(iter(train))
    assert xb.shape == (128, 1, 224, 224) and xb.dtype == torch.float32 and yb.dtype == torch.int64
    assert abs(xb.mean().item()) < 0.3 and 0.7 < xb.std().item() < 1.3  # normalised
    assert len(train) == 5 and sum(len(y) for _, y in test) == 200
    train.set_epoch(3)
    a = next(iter(train))[0]
    train.set_epoch(3)
    assert torch.equal(a, next(iter(train))[0])  # same epoch, same batches
    train.set_epoch(3, seed=1)
    assert not torch.equal(a, next(iter(train))[0])  # the run's seed decides them
    train.set_epoch(4)
    assert not torch.equal(a, next(iter(train))[0])  # and so does the epoch


def test_augmentation_shifts_and_flips_but_keeps_content():
    x = torch.zeros(64, 28, 28, dtype=torch.uint8)
    x[:, 10:18, 4:8] = 255
    loader = data.DeviceLoader(
        Images(x, torch.zeros(64)), DataConfig(size=28, pad=2), 64, train=True
    )
    out = next(iter(loader))[0][:, 0]
    assert torch.allclose(out.sum((1, 2)), torch.full((64,), 32.0))  # the blob is never cut off
    cols = out.sum(1).argmax(1)
    assert (cols > 14).any() and (cols < 14).any()  # some flipped, some not


def test_both_batch_paths_agree(synthetic):
    classic = next(iter(data.classic_loader(synthetic, train=False, batch_size=64, num_workers=0)))
    x, y = data.load_split(synthetic, train=False)
    fast = data.DeviceLoader(Images(x, y), DataConfig(size=224), batch_size=64)
    fast_x, fast_y = next(iter(fast))
    assert classic[0].shape == fast_x.shape and classic[0].dtype == fast_x.dtype
    assert torch.equal(classic[1], fast_y)
    assert abs(classic[0].mean() - fast_x.mean()) < 2e-3
    assert abs(classic[0].std() - fast_x.std()) < 5e-3
    assert (classic[0] - fast_x).abs().mean() < 0.01  # same pixels, up to the resize kernels


def test_classic_loader_keeps_the_indices_it_is_given_in_order(synthetic):
    test = data.classic_loader(synthetic, False, 16, size=32, num_workers=0, indices=range(24))
    assert len(test.dataset) == 24
    assert tuple(next(iter(test))[0].shape) == (16, 1, 32, 32)
    assert torch.equal(next(iter(test))[1], data.load_split(synthetic, False)[1][:16])  # in order
    assert len(data.classic_loader(synthetic, True, 16, num_workers=0).dataset) == synthetic.n_train


def test_real_sample_reads(real_files):
    x, y = data.load_split(real_files, train=True)
    assert x.shape[1:] == (28, 28) and len(x) == real_files.n_train
    expected = "full" if (real_files.n_train, real_files.n_test) == data.FULL_SIZES else "sample"
    assert real_files.kind == expected and real_files.describe().startswith(
        {"full": "full Fashion-MNIST", "sample": "a sample of real Fashion-MNIST"}[expected]
    )
    mean, std = data.pixel_stats(x)
    assert 0.2 < mean < 0.4 and 0.3 < std < 0.4  # Fashion-MNIST: dark background, bright garments


def test_kind_and_counts_come_from_the_files(tmp_path):
    """A real subset of any size is a "sample", described with the counts its files hold."""
    files = data.write_synthetic(tmp_path, n_train=37, n_test=11)
    (data.raw_dir(tmp_path) / data.SYNTHETIC_MARKER).unlink()  # now it looks like real files
    found = data.open_fashion_mnist(tmp_path, download=False)
    assert (files.kind, found.kind) == ("synthetic", "sample")
    assert (found.n_train, found.n_test) == (37, 11)
    assert found.describe() == "a sample of real Fashion-MNIST: 37 train + 11 test images"


def test_validation_split_is_fixed_disjoint_and_its_own_statistics(synthetic):
    x, y = data.load_split(synthetic, True)
    train_idx, val_idx = data.validation_indices(len(x))
    assert len(val_idx) == round(0.1 * len(x)) and len(train_idx) + len(val_idx) == len(x)
    assert set(train_idx.tolist()).isdisjoint(val_idx.tolist())
    assert torch.equal(val_idx, data.validation_indices(len(x))[1])  # the same every time
    a = data.splits(synthetic, DataConfig(size=28), 32)
    b = data.splits(synthetic, DataConfig(size=28, augment=False), 32)  # no seed can move it
    assert torch.equal(a.val.images, b.val.images) and torch.equal(a.val.images, x[val_idx])
    assert len(a.test.images) == synthetic.n_test and not a.val.train and a.train.train
    assert (a.val.mean, a.val.std) == (a.test.mean, a.test.std) == data.pixel_stats(x[train_idx])
    assert (a.train.mean, a.train.std) == data.pixel_stats(x[train_idx])
    assert "540 train + 60 validation (held out)" in a.description
    small = data.splits(synthetic, DataConfig(size=28, limit=(100, 50), val_share=0.2), 32)
    assert (len(small.train.images), len(small.val.images), len(small.test.images)) == (80, 20, 50)
    assert "(first 100 train / 50 test images used)" in small.description
    none = data.splits(synthetic, DataConfig(size=28, val_share=0), 32)
    assert len(none.val.images) == 0 and len(none.train.images) == synthetic.n_train
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        data.validation_indices(10, 1.0)
