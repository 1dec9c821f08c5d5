"""torch.distributed plumbing (lesson 09): process groups, rank 0's privileges, launching
torchrun, and the loaders' shares of the data for several processes."""

import pytest
import torch
import torch.distributed as dist
from torch import nn

from alexnet_lesson import distributed
from alexnet_lesson.config import DataConfig
from alexnet_lesson.data import DeviceLoader, Images, Shard
from alexnet_lesson.runs import RunFolderError


def test_backends_and_devices():
    assert distributed.backend_for("cpu") == "gloo"
    assert distributed.backend_for(torch.device("cuda", 3)) == "nccl"
    assert distributed.device_for_rank("cpu") == torch.device("cpu")


def test_a_group_of_one_outside_torchrun():
    assert not dist.is_initialized()
    with distributed.process_group("cpu"):
        assert (dist.get_world_size(), distributed.rank(), distributed.is_main()) == (1, 0, True)
        net = nn.Linear(2, 2)
        assert distributed.wrap(net) is net  # one process: no DDP, no all-reduce
        assert torch.equal(distributed.all_reduce_sum(torch.ones(3)), torch.ones(3))
        assert distributed.gather_objects("me") == ["me"]
    assert not dist.is_initialized()  # left cleanly, also for the next test


def test_say_prints_in_rank_0(capsys):
    distributed.say("epoch", 1, sep=" ")
    assert capsys.readouterr().out == "epoch 1\n"


def test_rank_0s_errors_reach_every_process():
    def refuse():
        raise RunFolderError("folder in use")

    with pytest.raises(RunFolderError, match="in use"):
        distributed.main_only(refuse)
    assert distributed.main_first(lambda: 7) == 7


def test_the_torchrun_command():
    cmd = distributed.torchrun_command("alexnet_lesson", ["train", "--epochs", "1"], nproc=4)
    assert cmd[1:] == [
        "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "4",
        "-m", "alexnet_lesson", "train", "--epochs", "1",
    ]  # fmt: skip


SEED = 3  # the run's seed: the trainer hands it to the loaders with set_epoch


def loaders(world, batch, train, augment=True, n=37):
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8, generator=g)
    y = torch.arange(n)
    config = DataConfig(size=28, augment=augment)
    return [
        DeviceLoader(Images(x, y), config, batch, train=train, shard=Shard(r, world))
        for r in range(world)
    ]


@pytest.mark.parametrize("world", [2, 3])
def test_training_shares_are_slices_of_the_one_process_batches(world):
    """N processes of batch b see, together, exactly the shuffled and augmented batches of one
    process of batch N·b, epoch after epoch (the basis of 'N × b = 1 × N·b' for DDP)."""
    (one,), parts = loaders(1, 4 * world, train=True), loaders(world, 4, train=True)
    assert [len(p) for p in parts] == [37 // (4 * world)] * world  # whole global batches only
    assert parts[0].dataset_size == 4 * len(parts[0])
    for epoch in range(2):
        for loader in (one, *parts):
            loader.set_epoch(epoch, SEED)
        batches = list(one)[: len(parts[0])]
        for (x, y), *shares in zip(batches, *parts, strict=True):
            assert torch.equal(torch.cat([s[0] for s in shares]), x)
            assert torch.equal(torch.cat([s[1] for s in shares]), y)


def test_evaluation_shares_cover_every_image_once():
    parts = loaders(3, 5, train=False, augment=False)
    labels = torch.cat([y for p in parts for _, y in p])
    assert sorted(labels.tolist()) == list(range(37))
    assert [p.dataset_size for p in parts] == [13, 12, 12]  # what each process sees


def test_one_process_is_the_plain_loader():
    (share,) = loaders(1, 8, train=True)
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (37, 28, 28), dtype=torch.uint8, generator=g)
    plain = DeviceLoader(Images(x, torch.arange(37)), DataConfig(size=28), 8, train=True)
    for loader in (share, plain):
        loader.set_epoch(1, SEED)
    for (a, la), (b, lb) in zip(share, plain, strict=True):
        assert torch.equal(a, b) and torch.equal(la, lb)


def test_a_rank_outside_the_group_is_refused():
    part = Images(torch.zeros(2, 28, 28, dtype=torch.uint8), torch.zeros(2))
    with pytest.raises(ValueError, match="rank"):
        DeviceLoader(part, DataConfig(), shard=Shard(rank=2, world_size=2))


@pytest.mark.slow
def test_a_failing_job_says_why():
    with pytest.raises(distributed.LaunchError, match="unknown_flag"):
        distributed.launch("alexnet_lesson.tower_split", ["--unknown_flag"], nproc=1, timeout=60)
