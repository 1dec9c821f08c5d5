"""Fashion-MNIST for the lessons: find it, download it, fake it offline, serve it at 224.

Three ways to get images, one format on disk (the four IDX files torchvision reads):

* the real data set, downloaded by torchvision's ``FashionMNIST`` into :func:`data_dir`;
* files a user copied there by hand (the folder layout is ``FashionMNIST/raw/``);
* a synthetic, Fashion-MNIST-shaped set from :func:`write_synthetic`, for machines that are offline.

Two ways to turn them into 224×224 batches:

* :class:`DeviceLoader` keeps the whole 28×28 ``uint8`` set on the training device and resizes,
  augments and normalises each batch there (fast: no PIL, no worker processes);
* :func:`classic_loader` is the textbook torchvision ``DataLoader`` with ``transforms.Resize(224)``
  (the d2l way), kept for teaching and as the benchmark baseline.
"""

from __future__ import annotations

import functools
import gzip
import os
import shutil
import socket
import urllib.parse
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from alexnet_lesson import env
from alexnet_lesson.config import DataConfig
from alexnet_lesson.runs import write_atomic

__all__ = [
    "check_idx_files",
    "CLASS_NAMES",
    "classic_loader",
    "data_dir",
    "DataUnavailableError",
    "DeviceLoader",
    "epoch_generator",
    "FashionMNISTFiles",
    "FULL_SIZES",
    "IDX_FILES",
    "IDXFormatError",
    "Images",
    "load_split",
    "make_synthetic",
    "offline_help",
    "open_fashion_mnist",
    "pixel_stats",
    "preprocess",
    "raw_dir",
    "read_idx",
    "Shard",
    "split_validation",
    "Splits",
    "splits",
    "SYNTHETIC_MARKER",
    "VAL_FRACTION",
    "validation_indices",
    "write_idx",
    "write_synthetic",
]

CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
"""The ten Fashion-MNIST classes, in label order (Xiao, Rasul & Vollgraf, 2017)."""

IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
SYNTHETIC_MARKER = "SYNTHETIC.txt"
FULL_SIZES = (60000, 10000)
VAL_FRACTION = 0.1
"""The share of the training images held out for validation (:func:`split_validation`)."""
VAL_SEED = 0
"""The split does not follow the training seed: every run of every recipe sees the same one."""


class DataUnavailableError(RuntimeError):
    """Fashion-MNIST is neither on disk nor downloadable from here."""


class IDXFormatError(ValueError):
    """An IDX file is truncated, corrupt or not an IDX file at all."""


# --------------------------------------------------------------------------- where the data lives


def data_dir(root: str | os.PathLike | None = None) -> Path:
    """The folder that holds (or will hold) ``FashionMNIST/raw/``.

    Order of precedence: the ``root`` argument, then ``$ALEXNET_LESSON_DATA``, then a per-user
    cache folder (``$XDG_CACHE_HOME/alexnet-lesson/data``, by default ``~/.cache/alexnet-lesson/data``).

    Example:
        >>> data_dir("/tmp/fm")
        PosixPath('/tmp/fm')
    """
    return Path(root).expanduser() if root is not None else env.cache_dir("data")


def raw_dir(root: str | os.PathLike) -> Path:
    """``root/FashionMNIST/raw``, where torchvision looks for the IDX files.

    Example:
        >>> raw_dir("/tmp/fm").parts[-2:]
        ('FashionMNIST', 'raw')
    """
    return Path(root) / "FashionMNIST" / "raw"


# --------------------------------------------------------------------------- IDX files


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an (uncompressed) IDX file of unsigned bytes, checking it on the way.

    Raises :class:`IDXFormatError`, naming the file, when the magic number is wrong, the data
    type is not ``uint8`` or the file is shorter or longer than its header says.

    Example:
        >>> read_idx(write_idx(Path(tempfile.mkdtemp()) / "x-idx1-ubyte", np.arange(3, dtype=np.uint8)))
        array([0, 1, 2], dtype=uint8)
    """
    path = Path(path)
    fix = (
        "Delete it and download Fashion-MNIST again, or use alexnet_lesson.data.write_synthetic()."
    )
    data = path.read_bytes()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise IDXFormatError(
            f"{path} is not an IDX file: it should start with the magic bytes 00 00 08 0N "
            f"but starts with {data[:4].hex(' ') or 'nothing (empty file)'}. {fix}"
        )
    if data[2] != 0x08:
        raise IDXFormatError(
            f"{path}: IDX data type 0x{data[2]:02x} is not unsigned bytes (0x08). {fix}"
        )
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise IDXFormatError(f"{path}: the IDX header is cut short ({len(data)} bytes). {fix}")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape))
    if len(data) != expected:
        dims = "×".join(str(s) for s in shape)
        raise IDXFormatError(
            f"{path} is truncated or corrupt: its header promises {dims} values "
            f"({expected:,} bytes) but the file has {len(data):,} bytes. {fix}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def write_idx(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write a ``uint8`` array as an IDX file (the format of MNIST and Fashion-MNIST).

    Example:
        >>> write_idx(Path(tempfile.mkdtemp()) / "y-idx1-ubyte", np.zeros(2, dtype=np.uint8)).stat().st_size
        10
    """
    array = np.ascontiguousarray(array, dtype=np.uint8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape
    )
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(header + array.tobytes())
    tmp.replace(path)
    return path


def _gunzip_if_needed(raw: Path) -> None:
    """Unpack ``*.gz`` files a user copied in, as torchvision's download would have."""
    for pair in IDX_FILES.values():
        for name in pair:
            gz = raw / (name + ".gz")
            if not (raw / name).exists() and gz.exists():
                try:
                    write_atomic(raw / name, lambda tmp, gz=gz: _gunzip(gz, tmp))
                except (OSError, EOFError, zlib.error, IDXFormatError) as exc:
                    raise IDXFormatError(  # (gzip.BadGzipFile is an OSError)
                        f"{gz} does not unpack to a complete IDX file ({exc}); delete it and "
                        "download Fashion-MNIST again (python -m alexnet_lesson download)"
                    ) from None


def _gunzip(gz: Path, target: Path) -> None:
    """Unpack ``gz`` into ``target`` and check what came out (before it gets its real name)."""
    with gzip.open(gz, "rb") as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst)
    read_idx(target)


def check_idx_files(root: str | os.PathLike) -> tuple[int, int]:
    """Check the four IDX files under ``root/FashionMNIST/raw``; return (train, test) sizes.

    Raises ``FileNotFoundError`` listing what is missing, or :class:`IDXFormatError` naming a bad file.

    Example:
        >>> check_idx_files(write_synthetic(tempfile.mkdtemp(), 20, 10).root)
        (20, 10)
    """
    raw = raw_dir(root)
    _gunzip_if_needed(raw) if raw.is_dir() else None
    missing = [n for pair in IDX_FILES.values() for n in pair if not (raw / n).is_file()]
    if missing:
        raise FileNotFoundError(f"missing in {raw}: {', '.join(missing)}")
    sizes = []
    for images_name, labels_name in IDX_FILES.values():
        images, labels = read_idx(raw / images_name), read_idx(raw / labels_name)
        if images.ndim != 3 or images.shape[1:] != (28, 28):
            raise IDXFormatError(
                f"{raw / images_name}: expected N×28×28 images, got {images.shape}"
            )
        if labels.shape != (images.shape[0],):
            raise IDXFormatError(
                f"{raw / labels_name}: {labels.shape[0] if labels.ndim else 0} labels "
                f"for {images.shape[0]} images in {images_name}"
            )
        if labels.size and labels.max() > 9:
            raise IDXFormatError(f"{raw / labels_name}: label {labels.max()} is not a class 0-9")
        sizes.append(images.shape[0])
    return sizes[0], sizes[1]


# --------------------------------------------------------------------------- finding the data set


@dataclass(frozen=True)
class FashionMNISTFiles:
    """A checked copy of Fashion-MNIST on disk (``root/FashionMNIST/raw/``)."""

    root: Path
    kind: str  # "full", "sample" (real images, fewer than the full set) or "synthetic"
    n_train: int
    n_test: int

    def describe(self) -> str:
        """One line that says which data this is, for a notebook's output."""
        sizes = f"{self.n_train:,} train + {self.n_test:,} test images"
        what = {
            "full": "full Fashion-MNIST",
            "sample": "a sample of real Fashion-MNIST",
            "synthetic": "SYNTHETIC Fashion-MNIST-shaped data (offline stand-in, not real images)",
        }[self.kind]
        return f"{what}: {sizes}"


def _files_at(root: Path) -> FashionMNISTFiles:
    n_train, n_test = check_idx_files(root)
    if (raw_dir(root) / SYNTHETIC_MARKER).exists():
        kind = "synthetic"
    elif (n_train, n_test) == FULL_SIZES:
        kind = "full"
    else:
        kind = "sample"  # real images, fewer than the full set; the counts come from the files
    return FashionMNISTFiles(root=root, kind=kind, n_train=n_train, n_test=n_test)


def _mirror_hosts() -> list[tuple[str, int]]:
    from torchvision.datasets import FashionMNIST

    hosts = []
    for url in FashionMNIST.mirrors:
        parts = urllib.parse.urlsplit(url)
        hosts.append((parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)))
    return hosts


def _reachable(hosts: list[tuple[str, int]], timeout: float) -> bool:
    for host, port in hosts:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            return True
        except OSError:
            continue
    return False


def _download(root: Path, timeout: float) -> None:
    """torchvision's own download, with a socket timeout so that a dead network cannot hang it."""
    from torchvision.datasets import FashionMNIST

    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        for train in (True, False):
            FashionMNIST(str(root), train=train, download=True)
    finally:
        socket.setdefaulttimeout(old)


def offline_help(root: Path) -> str:
    """The instructions printed when Fashion-MNIST cannot be found or downloaded.

    Example:
        >>> "write_synthetic" in offline_help(Path("/tmp/fm"))
        True
    """
    names = "\n".join(f"      {n}" for pair in IDX_FILES.values() for n in pair)
    return (
        f"Fashion-MNIST is not in {raw_dir(root)} and could not be downloaded "
        "(no network, or the mirror did not answer).\n"
        "  Either: copy the four IDX files (unzipped, or as the .gz files) into that folder:\n"
        f"{names}\n"
        "    (from https://github.com/zalandoresearch/fashion-mnist, on a machine that is online);\n"
        f"  or: point ${env.DATA_VAR} (or the root= argument) at a folder that holds FashionMNIST/raw/;\n"
        "  or: work offline on synthetic stand-in data:\n"
        "      alexnet_lesson.data.open_fashion_mnist(fallback='synthetic')"
        "   # or write_synthetic(folder)"
    )


def open_fashion_mnist(
    root: str | os.PathLike | None = None,
    download: bool = True,
    fallback: str = "error",
    timeout: float = 5.0,
) -> FashionMNISTFiles:
    """Find Fashion-MNIST on disk, or download it, or (offline) fall back to synthetic data.

    Args:
        root: the data folder (default: :func:`data_dir`).
        download: try torchvision's download when the files are missing.
        fallback: ``"error"`` raises :class:`DataUnavailableError` with instructions;
            ``"synthetic"`` writes (once) and uses a synthetic set under ``root/synthetic``.
        timeout: seconds to wait for the download server before giving up.

    Example:
        >>> files = open_fashion_mnist(tempfile.mkdtemp(), download=False, fallback="synthetic")  # doctest: +ELLIPSIS
        Fashion-MNIST not available (download=False); using SYNTHETIC stand-in data from .../synthetic. Results will not match real Fashion-MNIST.
        >>> files.kind
        'synthetic'
    """
    if fallback not in {"error", "synthetic"}:
        raise ValueError(f"fallback must be 'error' or 'synthetic', not {fallback!r}")
    root = data_dir(root)
    try:
        return _files_at(root)
    except FileNotFoundError:
        pass
    reason = "download=False"
    if download:
        if _reachable(_mirror_hosts(), timeout):
            try:
                _download(root, timeout)
                return _files_at(root)
            except (OSError, RuntimeError) as exc:  # URLError is an OSError
                reason = f"the download failed: {exc}"
        else:
            reason = f"no answer from the download server within {timeout:g} s"
    if fallback == "synthetic":
        synthetic_root = root / "synthetic"
        try:
            files = _files_at(synthetic_root)
        except (FileNotFoundError, IDXFormatError):
            files = write_synthetic(synthetic_root)
        print(
            f"Fashion-MNIST not available ({reason}); using SYNTHETIC stand-in data "
            f"from {synthetic_root}. Results will not match real Fashion-MNIST."
        )
        return files
    raise DataUnavailableError(f"{offline_help(root)}\n  ({reason})") from None


def load_split(files: FashionMNISTFiles, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N×28×28 ``uint8``) and labels (N, ``int64``) of one split, via torchvision.

    Example:
        >>> x, y = load_split(write_synthetic(tempfile.mkdtemp(), 20, 10), train=False)
        >>> tuple(x.shape), x.dtype, tuple(y.shape)
        ((10, 28, 28), torch.uint8, (10,))
    """
    from torchvision.datasets import FashionMNIST

    ds = FashionMNIST(str(files.root), train=train, download=False)
    return ds.data, ds.targets.long()


# --------------------------------------------------------------------------- synthetic data


def _garment(label: int, rng: np.random.Generator) -> np.ndarray:
    """One 28×28 float silhouette of class ``label``: a few rectangles and ellipses, jittered."""
    yy, xx = np.mgrid[0:28, 0:28].astype(np.float32)
    dx, dy = rng.uniform(-1.5, 1.5, size=2)
    s = rng.uniform(0.9, 1.1)
    img = np.zeros((28, 28), np.float32)

    def rect(x0: float, y0: float, x1: float, y1: float, v: float = 1.0) -> None:
        cx, cy = 14 + dx, 14 + dy
        x0, x1 = cx + (x0 - 14) * s, cx + (x1 - 14) * s
        y0, y1 = cy + (y0 - 14) * s, cy + (y1 - 14) * s
        img[(xx >= x0) & (xx < x1) & (yy >= y0) & (yy < y1)] = v

    def ellipse(x: float, y: float, rx: float, ry: float, v: float = 1.0) -> None:
        cx, cy = 14 + dx + (x - 14) * s, 14 + dy + (y - 14) * s
        img[((xx - cx) / (rx * s)) ** 2 + ((yy - cy) / (ry * s)) ** 2 <= 1] = v

    if label == 0:  # T-shirt/top: body and short sleeves
        rect(8, 5, 20, 25), rect(3, 5, 25, 11)
    elif label == 1:  # Trouser: waistband and two legs with a gap
        rect(8, 3, 20, 7), rect(8, 7, 13, 26), rect(15, 7, 20, 26)
    elif label == 2:  # Pullover: body and long sleeves hanging down
        rect(8, 5, 20, 24), rect(3, 5, 8, 23), rect(20, 5, 25, 23)
    elif label == 3:  # Dress: narrow top, wide skirt
        rect(11, 3, 17, 12)
        for row in range(12, 27):
            half = 3 + (row - 12) * 0.55
            rect(14 - half, row, 14 + half, row + 1)
    elif label == 4:  # Coat: long body with sleeves and a dark opening down the middle
        rect(7, 3, 21, 27), rect(2, 4, 7, 25), rect(21, 4, 26, 25), rect(13.5, 8, 14.5, 27, 0.3)
    elif label == 5:  # Sandal: thin straps over a sole
        rect(3, 20, 25, 22), rect(5, 14, 23, 15.5), rect(8, 10, 20, 11.5), rect(14, 10, 15.5, 20)
    elif label == 6:  # Shirt: body, sleeves, collar and a row of buttons
        rect(8, 6, 20, 25), rect(3, 6, 8, 21), rect(20, 6, 25, 21)
        rect(11, 3, 17, 6, 0.6), rect(13.5, 7, 14.5, 25, 0.5)
    elif label == 7:  # Sneaker: low shoe, thick sole
        ellipse(14, 17, 11, 4), rect(3, 19, 25, 22)
    elif label == 8:  # Bag: a box with a handle
        rect(5, 11, 23, 25), ellipse(14, 11, 5, 5), ellipse(14, 11, 3, 3, 0.0)
    else:  # Ankle boot: shaft and foot
        rect(7, 4, 16, 22), rect(7, 17, 25, 24)
    img *= rng.uniform(0.6, 1.0)  # brightness
    texture = rng.normal(0.0, 0.08, size=(28, 28)).astype(np.float32) * (img > 0)
    noise = rng.normal(0.0, 0.04, size=(28, 28)).astype(np.float32)
    return np.clip(img + texture + noise, 0.0, 1.0)


def make_synthetic(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` deterministic garment-like 28×28 ``uint8`` images and their labels (balanced classes).

    Example:
        >>> x, y = make_synthetic(20, seed=1)
        >>> x.shape, x.dtype, sorted(set(y.tolist())) == list(range(10))
        ((20, 28, 28), dtype('uint8'), True)
    """
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % 10).astype(np.uint8)
    images = np.stack([_garment(int(c), rng) for c in labels]) if n else np.zeros((0, 28, 28))
    return (images * 255).round().astype(np.uint8), labels


def write_synthetic(
    root: str | os.PathLike, n_train: int = 6000, n_test: int = 1000, seed: int = 0
) -> FashionMNISTFiles:
    """Write a synthetic Fashion-MNIST-shaped set as real IDX files under ``root/FashionMNIST/raw``.

    torchvision's ``FashionMNIST(root, download=False)`` then reads it like the real thing; a
    ``SYNTHETIC.txt`` marker beside the files keeps anyone from mistaking it for real data.

    Example:
        >>> write_synthetic(tempfile.mkdtemp(), n_train=20, n_test=10).kind
        'synthetic'
    """
    root = Path(root)
    raw = raw_dir(root)
    for (images_name, labels_name), n, s in zip(
        IDX_FILES.values(), (n_train, n_test), (seed, seed + 1), strict=True
    ):
        images, labels = make_synthetic(n, seed=s)
        write_idx(raw / images_name, images)
        write_idx(raw / labels_name, labels)
    (raw / SYNTHETIC_MARKER).write_text(
        f"Synthetic stand-in for Fashion-MNIST written by alexnet_lesson.data.write_synthetic "
        f"(seed {seed}). These are not real images.\n"
    )
    processed = root / "FashionMNIST" / "processed"  # stale caches of older torchvision versions
    shutil.rmtree(processed, ignore_errors=True)
    return _files_at(root)


# --------------------------------------------------------------------------- fast batches at 224


def pixel_stats(images: torch.Tensor) -> tuple[float, float]:
    """Mean and standard deviation of the pixels of a ``uint8`` image tensor, scaled to [0, 1].

    Example:
        >>> pixel_stats(torch.tensor([[0, 255]], dtype=torch.uint8))
        (0.5, 0.5)
    """
    x = images.double() / 255
    return round(x.mean().item(), 4), round(x.std(unbiased=False).item(), 4)


def preprocess(
    images: torch.Tensor, size: int, mean: float, std: float, channels: int = 1
) -> torch.Tensor:
    """The one preprocessing of training, evaluation and ``predict``: images → model input.

    ``images``: uint8 N×H×W (0-255) or float N×1×H×W (0-1). Normalise with the training set's
    ``mean`` and ``std``, upsample to ``size``×``size`` with bilinear interpolation
    (``align_corners=False``), repeat the grey channel ``channels`` times.

    Example:
        >>> x = preprocess(torch.zeros(2, 28, 28, dtype=torch.uint8), 224, 0.5, 0.5, channels=3)
        >>> tuple(x.shape), x.min().item()
        ((2, 3, 224, 224), -1.0)
    """
    x = images.unsqueeze(1).float().div(255) if images.dtype == torch.uint8 else images.float()
    # Normalise at 28×28, before the upsampling: bilinear weights sum to 1, so the result is
    # the same, and the arithmetic runs on 64× fewer pixels (it matters on a CPU).
    x = (x - mean) / std
    h, w = x.shape[-2:]
    if (h, w) != (size, size):
        # Bilinear upsampling as two small matrix products, rows @ x @ colsᵀ, with exactly
        # F.interpolate's weights: about twice as fast as F.interpolate on a CPU.
        x = _resize_matrix(h, size, x.device) @ x @ _resize_matrix(w, size, x.device).T
    return x.expand(-1, channels, -1, -1).contiguous() if channels != 1 else x


@functools.lru_cache(maxsize=16)
def _resize_matrix(n: int, size: int, device: torch.device) -> torch.Tensor:
    """The size×n matrix of bilinear weights (align_corners=False) on ``device``."""
    eye = torch.eye(n, device=device)[None, None]
    return F.interpolate(eye, size=(size, n), mode="bilinear", align_corners=False)[
        0, 0
    ].contiguous()


class Images(NamedTuple):
    """Images and labels, with the statistics they are normalised with (the training part's)."""

    images: torch.Tensor  # N×H×W uint8
    labels: torch.Tensor
    mean: float = 0.0
    std: float = 1.0


class Shard(NamedTuple):
    """This process's share when training on several (DistributedDataParallel, lesson 09)."""

    rank: int = 0
    world_size: int = 1


ONE_PROCESS = Shard()
"""The shard of a run in one process: all of every batch."""


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The random numbers of one epoch of a run: the same (seed, epoch) always gives the same
    numbers, and different seeds give independent ones.

    Example:
        >>> a, b = epoch_generator(0, 1), epoch_generator(1, 1)
        >>> torch.rand(1, generator=a).item() != torch.rand(1, generator=b).item()
        True
    """
    key = int(np.random.SeedSequence([seed, epoch]).generate_state(1, dtype=np.uint64)[0])
    return torch.Generator().manual_seed(key)


class DeviceLoader:
    """Batches of resized, normalised images made on the training device, with no PIL and no workers.

    The whole data set stays on ``device`` as 28×28 ``uint8`` (47 MB for all of Fashion-MNIST).
    Each batch is gathered by index, augmented at 28×28 when ``train`` and ``config.augment``
    (random shift within a zero padding of ``config.pad``, horizontal flip), upsampled to
    ``config.size`` with bilinear interpolation and normalised. A ``train`` loader shuffles.

    The loader has no seed of its own: the shuffle and the augmentation of an epoch come from
    :func:`epoch_generator` of the run's seed and the epoch number, which the trainer sets with
    :meth:`set_epoch` before each epoch. So a seed decides the batches, and a resumed run sees the
    same batches as an uninterrupted one.

    With a :class:`Shard` of ``world_size`` processes, process ``rank`` takes its share: a
    ``train`` loader gives it slice ``rank`` of every batch of ``batch_size × world_size`` images,
    shuffled and augmented exactly as one process would (an incomplete last batch is left out,
    so that all take the same steps); an evaluation loader gives it block ``rank`` of the images,
    so that together the processes see each image once.

    Example:
        >>> x = torch.zeros(10, 28, 28, dtype=torch.uint8); y = torch.arange(10)
        >>> loader = DeviceLoader(Images(x, y), DataConfig(size=224), batch_size=4)
        >>> xb, yb = next(iter(loader))
        >>> tuple(xb.shape), xb.dtype, tuple(yb.shape), len(loader)
        ((4, 1, 224, 224), torch.float32, (4,), 3)
    """

    def __init__(
        self,
        part: Images,
        config: DataConfig,
        batch_size: int = 128,
        device: torch.device | str = "cpu",
        train: bool = False,
        shard: Shard = ONE_PROCESS,
    ) -> None:
        images, labels = part.images, part.labels
        if images.dtype != torch.uint8 or images.ndim != 3:
            raise ValueError(
                f"images must be an N×H×W uint8 tensor, got {images.dtype} {tuple(images.shape)}"
            )
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if not 0 <= shard.rank < shard.world_size:
            raise ValueError(f"rank must be in 0…{shard.world_size - 1}, got {shard.rank}")
        self.config, self.batch_size, self.train, self.shard = config, batch_size, train, shard
        self.mean, self.std = (part.mean, part.std) if config.normalise else (0.0, 1.0)
        self.device = torch.device(device)
        self.images = images.to(self.device)
        self.labels = labels.long().to(self.device)
        self.seed, self.epoch = 0, 0
        self.description: str | None = (
            None  # the data in words (splits sets it; checkpoints store it)
        )

    @property
    def augment(self) -> bool:
        return self.train and self.config.augment

    @property
    def _slices(self) -> bool:
        """Whether each batch is a slice of a batch of all processes (training on several)."""
        return self.train and self.shard.world_size > 1

    def _order(self, g: torch.Generator | None) -> torch.Tensor:
        """The indices of one epoch, in order: shuffled, or this process's block of them."""
        n = len(self.images)
        if self.train:
            return torch.randperm(n, generator=g)
        return torch.arange(n).tensor_split(self.shard.world_size)[self.shard.rank]

    def __len__(self) -> int:
        if not self._slices:
            return -(-len(self._order(None) if not self.train else self.images) // self.batch_size)
        return len(self.images) // (self.batch_size * self.shard.world_size)

    @property
    def dataset_size(self) -> int:
        """Images one epoch yields: all of them, or this process's share when there are several."""
        if self.shard.world_size == 1:
            return len(self.images)
        return len(self) * self.batch_size if self._slices else len(self._order(None))

    def set_epoch(self, epoch: int, seed: int = 0) -> None:
        """Draw the next iteration's shuffle and augmentation from ``seed`` and ``epoch``
        (0-based); the trainer calls it before every epoch with the run's seed."""
        self.seed, self.epoch = seed, epoch

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        g = epoch_generator(self.seed, self.epoch)
        order = self._order(g)
        step = self.batch_size * (self.shard.world_size if self._slices else 1)
        rank = self.shard.rank
        mine = slice(rank * self.batch_size, (rank + 1) * self.batch_size)
        for i in range(len(self)):
            idx = order[i * step : (i + 1) * step]
            draws = self._draw(len(idx), g) if self.augment else None  # for the whole batch
            if self._slices:
                idx = idx[mine]
                draws = (draws[0][:, mine], draws[1][mine]) if draws else None
            idx = idx.to(self.device)
            yield self._make(self.images[idx], draws), self.labels[idx]
        self.epoch += 1

    def transform(self, images: torch.Tensor, g: torch.Generator | None = None) -> torch.Tensor:
        """uint8 B×28×28 → float B×C×size×size: augment at 28×28 (a ``train`` loader with
        augmentation, drawing from ``g``), then :func:`preprocess`."""
        g = g or epoch_generator(self.seed, self.epoch)
        return self._make(images, self._draw(len(images), g) if self.augment else None)

    def _make(self, images: torch.Tensor, draws: tuple | None) -> torch.Tensor:
        x = images.unsqueeze(1).float().div_(255)
        if draws is not None:
            x = _shift_and_flip(x, *draws, pad=self.config.pad)
        return preprocess(x, self.config.size, self.mean, self.std, self.config.channels)

    def _draw(self, b: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Each image's random shift (rows, columns) and whether it is flipped."""
        offsets = torch.randint(0, 2 * self.config.pad + 1, (2, b), generator=g)
        return offsets, torch.rand(b, generator=g) < 0.5

    def to(self, device: torch.device | str) -> DeviceLoader:
        """Move the images and labels to ``device`` (in place, like ``nn.Module.to``).

        Example:
            >>> part = Images(torch.zeros(2, 28, 28, dtype=torch.uint8), torch.zeros(2))
            >>> DeviceLoader(part, DataConfig()).to("cpu").device
            device(type='cpu')
        """
        self.device = torch.device(device)
        self.images, self.labels = self.images.to(self.device), self.labels.to(self.device)
        return self


def _shift_and_flip(
    x: torch.Tensor, offsets: torch.Tensor, flips: torch.Tensor, pad: int
) -> torch.Tensor:
    """Each image shifted by its offset within a zero padding of ``pad``, and flipped where asked."""
    b, _, h, w = x.shape
    offsets, flips = offsets.to(x.device), flips.to(x.device)
    padded = F.pad(x, (pad, pad, pad, pad))
    rows = (offsets[0, :, None] + torch.arange(h, device=x.device))[:, :, None]
    cols = offsets[1, :, None] + torch.arange(w, device=x.device)
    cols = torch.where(flips[:, None], cols.flip(1), cols)[:, None, :]
    batch = torch.arange(b, device=x.device)[:, None, None]
    return padded[batch, 0, rows, cols].unsqueeze(1)


def split_validation(
    images: torch.Tensor, labels: torch.Tensor, fraction: float = VAL_FRACTION
) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """Hold out ``round(fraction·N)`` training images for validation: ``(train, val)`` pairs.

    The held-out images are a random draw with the fixed seed :data:`VAL_SEED`, the same for
    every run; both parts keep the original order. Checkpoints, schedules and every choice
    between recipes are made on the validation part, so that the test set, read once at the
    end, stays an unbiased estimate.

    Example:
        >>> (xtr, ytr), (xval, yval) = split_validation(torch.zeros(50, 28, 28), torch.arange(50))
        >>> len(xtr), len(xval), sorted(set(ytr.tolist()) & set(yval.tolist()))
        (45, 5, [])
    """
    train, val = validation_indices(len(images), fraction)
    return (images[train], labels[train]), (images[val], labels[val])


def validation_indices(n: int, fraction: float = VAL_FRACTION) -> tuple[torch.Tensor, torch.Tensor]:
    """Which of ``n`` training images train and which validate (:func:`split_validation`).

    Example:
        >>> train, val = validation_indices(7058)
        >>> len(train), len(val), val[:3].tolist()
        (6352, 706, [0, 2, 3])
    """
    if not 0 <= fraction < 1:
        raise ValueError(f"the validation fraction must be in [0, 1), got {fraction}")
    n_val = round(fraction * n)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(VAL_SEED))
    return order[n_val:].sort().values, order[:n_val].sort().values


class Splits(NamedTuple):
    """The three loaders of a run: train on ``train``, choose on ``val``, report ``test`` once.
    ``description`` says what they hold, in words (checkpoints store it)."""

    train: DeviceLoader
    val: DeviceLoader
    test: DeviceLoader
    description: str


def splits(
    files: FashionMNISTFiles,
    config: DataConfig,
    batch_size: int = 128,
    device: torch.device | str = "cpu",
    shard: Shard = ONE_PROCESS,
) -> Splits:
    """Train, validation and test :class:`DeviceLoader`: the first ``config.limit`` images,
    :func:`split_validation` of the training images with ``config.val_share`` (0: an empty
    validation loader), normalised with the remaining training images' statistics.

    Example:
        >>> s = splits(write_synthetic(tempfile.mkdtemp(), 20, 10), DataConfig(), batch_size=8)
        >>> len(s.train.images), len(s.val.images), len(s.test.images), len(s.train)
        (18, 2, 10, 3)
        >>> s.description.split(": ")[-1]
        '20 train + 10 test images; 18 train + 2 validation (held out) images'
    """
    (xtr, ytr), (xte, yte) = load_split(files, True), load_split(files, False)
    n_train, n_test = config.limit
    xtr, ytr, xte, yte = xtr[:n_train], ytr[:n_train], xte[:n_test], yte[:n_test]
    (xtr, ytr), (xval, yval) = split_validation(xtr, ytr, config.val_share)
    mean, std = pixel_stats(xtr)

    def loader(x: torch.Tensor, y: torch.Tensor, train: bool = False) -> DeviceLoader:
        return DeviceLoader(Images(x, y, mean, std), config, batch_size, device, train, shard)

    text = files.describe()
    if (len(xtr) + len(xval), len(xte)) != (files.n_train, files.n_test):
        text += f" (first {len(xtr) + len(xval)} train / {len(xte)} test images used)"
    text += f"; {len(xtr):,} train + {len(xval):,} validation (held out) images"
    loaders = loader(xtr, ytr, train=True), loader(xval, yval), loader(xte, yte)
    for each in loaders:
        each.description = text
    return Splits(*loaders, text)


def classic_loader(
    files: FashionMNISTFiles,
    train: bool,
    batch_size: int = 128,
    size: int = 224,
    num_workers: int = 4,
    normalize: tuple[float, float] | None = None,
    indices: torch.Tensor | range | None = None,
    shuffle: bool | None = None,
) -> torch.utils.data.DataLoader:
    """The textbook loader: torchvision ``FashionMNIST`` → PIL ``Resize(size)`` → ``ToTensor`` (d2l's way).

    Every image is resized on the CPU, in ``num_workers`` processes, every epoch. ``indices``
    keeps only those images (``range(n)``: the first n; or one part of
    :func:`validation_indices`); ``shuffle`` defaults to ``train``.

    Example:
        >>> dl = classic_loader(write_synthetic(tempfile.mkdtemp(), 20, 10), False, 4, num_workers=0)
        >>> tuple(next(iter(dl))[0].shape)
        (4, 1, 224, 224)
    """
    from torchvision import datasets, transforms

    steps = [transforms.Resize(size), transforms.ToTensor()]
    if normalize is not None:
        steps.append(transforms.Normalize((normalize[0],), (normalize[1],)))
    ds = datasets.FashionMNIST(
        str(files.root), train=train, transform=transforms.Compose(steps), download=False
    )
    if indices is not None:
        ds = torch.utils.data.Subset(ds, [int(i) for i in indices if int(i) < len(ds)])
    return torch.utils.data.DataLoader(
        ds,
        batch_size=batch_size,
        shuffle=train if shuffle is None else shuffle,
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
    )
