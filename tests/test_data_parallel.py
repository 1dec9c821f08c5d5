"""DistributedDataParallel under torchrun (lesson 09), two gloo processes on the CPU: the same
steps as one process with the whole batch, and the command line's run folder, output and resume."""

import json

import pytest
import torch

from alexnet_lesson import cli, distributed
from alexnet_lesson.config import DataConfig
from alexnet_lesson.data import DeviceLoader, Images, Shard
from alexnet_lesson.data_parallel import max_abs_diff, scaling, train_steps

pytestmark = pytest.mark.slow

TOLERANCE = 1e-5
"""float32 weights of size up to about 0.4 after three steps; DDP adds the two processes'
gradients in another order than one process sums its batch, so the weights agree to rounding
(measured: about 1e-8), far inside 1e-5 and far from another batch's weights (about 1e-2)."""


def test_two_processes_of_batch_b_take_the_steps_of_one_process_of_batch_2b(synthetic, tmp_path):
    args = [
        "steps",
        "--out",
        str(tmp_path),
        "--batch",
        "16",
        "--steps",
        "3",
        "--data",
        str(synthetic.root),
    ]
    distributed.launch("alexnet_lesson.data_parallel", args, nproc=2, timeout=120)
    two_by_16 = torch.load(tmp_path / "weights.pt")
    one_by_32 = {k: v.detach() for k, v in train_steps(synthetic, 32, 3).state_dict().items()}
    one_by_16 = {k: v.detach() for k, v in train_steps(synthetic, 16, 3).state_dict().items()}
    assert max_abs_diff(two_by_16, one_by_32) < TOLERANCE
    assert max_abs_diff(one_by_16, one_by_32) > 100 * TOLERANCE  # the check can tell batches apart


FLAGS = ["train", "--device", "cpu", "--variant", "d2l", "--limit", "32", "16", "--batch-size", "8",
         "--steps-per-epoch", "2", "--synthetic"]  # fmt: skip


def test_torchrun_trains_writes_one_run_folder_and_resumes(synthetic, tmp_path):
    out = tmp_path / "run"
    flags = [*FLAGS, "--data", str(synthetic.root), "--out", str(out)]
    first = distributed.launch("alexnet_lesson", [*flags, "--epochs", "1"], nproc=2, timeout=120)
    assert first.stdout.count("run folder:") == 1  # rank 0 alone prints
    assert first.stdout.count("epoch 1:") == 1
    assert "2 processes (DistributedDataParallel), 8 images each per step" in first.stdout
    assert sorted(p.name for p in out.iterdir()) == [
        "best.pt", "curves.png", "history.csv", "last.pt", "metrics.json"]  # fmt: skip
    again = distributed.launch(
        "alexnet_lesson",
        [*flags, "--epochs", "2", "--resume", "--change-recipe"],
        nproc=2,
        timeout=120,
    )
    assert again.stdout.count("resuming from") == 1 and again.stdout.count("epoch 2:") == 1
    metrics = json.loads((out / "metrics.json").read_text())
    assert (metrics["epochs_done"], metrics["processes"]) == (2, 2)
    ckpt = torch.load(out / "last.pt", weights_only=True)
    assert ckpt["runtime"]["processes"] == 2 and len(ckpt["rng_by_rank"]) == 2


def test_torchrun_with_one_process_is_the_plain_command(synthetic, tmp_path):
    flags = [*FLAGS, "--data", str(synthetic.root), "--epochs", "1", "--no-progress"]
    distributed.launch("alexnet_lesson", [*flags, "--out", str(tmp_path / "torchrun")], nproc=1)
    assert cli.main([*flags, "--out", str(tmp_path / "plain")]) == 0
    a, b = (torch.load(tmp_path / n / "last.pt", weights_only=True) for n in ("torchrun", "plain"))
    assert a["model"].keys() == b["model"].keys()
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])  # bit for bit
    drop = ("seconds", "images_per_s")
    assert [{k: v for k, v in r.items() if k not in drop} for r in a["history"]] == [
        {k: v for k, v in r.items() if k not in drop} for r in b["history"]
    ]


@pytest.mark.parametrize("processes", [1, 2, 3])
def test_scaling_counts_the_steps_the_loader_takes_and_scales_the_lr_linearly(processes):
    x, y = torch.zeros(50, 28, 28, dtype=torch.uint8), torch.zeros(50)
    config = DataConfig(size=28, augment=False)
    loader = DeviceLoader(Images(x, y), config, batch_size=8, train=True, shard=Shard(0, processes))
    row = scaling([processes], batch=8, images=50, base_lr=0.1, base_batch=16).iloc[0]
    assert row["steps per epoch"] == len(loader) == len(list(loader))
    assert row["images per step"] == 8 * processes
    assert row["lr (linear rule)"] == pytest.approx(0.1 * 8 * processes / 16)
