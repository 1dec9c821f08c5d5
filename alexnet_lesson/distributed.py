"""Many processes today (lesson 09): ``torch.distributed``, ``torchrun`` and DistributedDataParallel.

``torchrun --nproc-per-node N …`` starts N copies of a program and tells each its rank
(:func:`alexnet_lesson.env.distributed_env`). Here is what the package does with that:

* :func:`process_group`: join the group, with NCCL between GPUs and gloo between CPUs, and leave it;
* :func:`device_for_rank`: one GPU per process (``cuda:LOCAL_RANK``), or the CPU;
* :func:`wrap`: DistributedDataParallel, which averages the gradients of all processes (an
  all-reduce) while the backward pass runs, so that every process takes the same step;
* :func:`launch`: start ``torchrun`` from Python (a notebook or a test) and wait for it.

The paper trained one model on two GPUs by splitting the model (:mod:`alexnet_lesson.tower_split`);
data parallelism, which this module serves, splits the batch instead and copies the model
(:mod:`alexnet_lesson.data_parallel` measures it).
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from typing import TypeVar

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from alexnet_lesson.env import distributed_env, model_device, pick_device

__all__ = [
    "LaunchError",
    "backend_for",
    "device_for_rank",
    "free_port",
    "process_group",
    "rank",
    "world_size",
    "is_main",
    "main_only",
    "main_first",
    "main_holds",
    "all_reduce_sum",
    "gather_objects",
    "say",
    "wrap",
    "torchrun_command",
    "launch",
]


T = TypeVar("T")


class LaunchError(RuntimeError):
    """A ``torchrun`` job that failed; the message ends with what its processes printed."""


def backend_for(device: torch.device | str) -> str:
    """The collective backend for a device: NCCL between CUDA GPUs, gloo between CPUs.

    Example:
        >>> backend_for("cpu"), backend_for("cuda:1")
        ('gloo', 'nccl')
    """
    return "nccl" if torch.device(device).type == "cuda" else "gloo"


def device_for_rank(prefer: str | None = None) -> torch.device:
    """This process's device: with several processes on CUDA the GPU ``LOCAL_RANK`` (one GPU per
    process on each machine), else :func:`alexnet_lesson.env.pick_device`'s choice.

    Example:
        >>> device_for_rank("cpu")
        device(type='cpu')
    """
    device, here = pick_device(prefer), distributed_env()
    if device.type == "cuda" and device.index is None and here.world_size > 1:
        device = torch.device("cuda", here.local_rank)
    return device


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now.

    Example:
        >>> 0 < free_port() < 65536
        True
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def process_group(device: torch.device | str = "cpu") -> Iterator[None]:
    """Join the process group ``torchrun`` set up (a group of one when run without it) for a
    ``with`` block, with :func:`backend_for` ``device``'s backend; leave it afterwards.

    Example:
        >>> with process_group("cpu"):
        ...     dist.get_world_size(), dist.get_backend()
        (1, 'gloo')
    """
    here = distributed_env()
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.set_device(device_for_rank(str(device)))
    init = "env://" if here.launched else f"tcp://127.0.0.1:{free_port()}"
    dist.init_process_group(
        backend_for(device), init_method=init, rank=here.rank, world_size=here.world_size
    )
    try:
        yield
    finally:
        dist.destroy_process_group()


def rank() -> int:
    """This process's rank in the group (0 outside one).

    Example:
        >>> rank()
        0
    """
    return dist.get_rank() if dist.is_initialized() else 0


def world_size() -> int:
    """The number of processes in the group (1 outside one).

    Example:
        >>> world_size()
        1
    """
    return dist.get_world_size() if dist.is_initialized() else 1


def is_main() -> bool:
    """Whether this is the process that writes files and prints (rank 0).

    Example:
        >>> is_main()
        True
    """
    return rank() == 0


def say(*text: object, **kwargs: object) -> None:
    """``print``, in one process only (rank 0) when there are several.

    Example:
        >>> say("hello")
        hello
    """
    if is_main():
        print(*text, **kwargs)  # type: ignore[call-overload]


def _share_error(error: BaseException | None) -> None:
    """Raise rank 0's ``error`` (None: no error) in every process of the group."""
    box = [error]
    if world_size() > 1:
        dist.broadcast_object_list(box, src=0)
    if box[0] is not None:
        raise box[0]


def main_only(fn: Callable[[], T]) -> T | None:
    """Call ``fn`` in rank 0 only (claiming a run folder, say); if it raises there, raise the same
    error in every process. Returns ``fn``'s result in rank 0, None in the others.

    Example:
        >>> main_only(lambda: 42)
        42
    """
    result, error = None, None
    if is_main():
        try:
            result = fn()
        except Exception as exc:  # every process must learn of it, or the others would wait
            error = exc
    _share_error(error)
    return result


def main_first(fn: Callable[[], T]) -> T:
    """Call ``fn`` in rank 0 first (a download, say), then in the other processes; if it raises
    in rank 0, raise the same error in every process. Returns each process's result.

    Example:
        >>> main_first(lambda: 42)
        42
    """
    result = main_only(fn)
    return result if is_main() else fn()  # type: ignore[return-value]


@contextmanager
def main_holds(context: AbstractContextManager) -> Iterator[None]:
    """Enter ``context`` (a run folder's lock, say) in rank 0 only, for a ``with`` block; if
    entering fails, raise the same error in every process.

    Example:
        >>> with main_holds(open("/dev/null")):
        ...     is_main()
        True
    """
    with ExitStack() as stack:
        error = None
        if is_main():
            try:
                stack.enter_context(context)
            except Exception as exc:
                error = exc
        _share_error(error)
        yield


def all_reduce_sum(x: torch.Tensor) -> torch.Tensor:
    """``x`` summed over all processes (``x`` itself with one process).

    Example:
        >>> all_reduce_sum(torch.tensor([1.0, 2.0]))
        tensor([1., 2.])
    """
    if world_size() == 1:
        return x
    x = x.clone()
    dist.all_reduce(x)
    return x


def gather_objects(obj: object) -> list:
    """Every process's ``obj`` (picklable), in rank order, in every process.

    Example:
        >>> gather_objects({"rank": rank()})
        [{'rank': 0}]
    """
    if world_size() == 1:
        return [obj]
    out: list = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


def wrap(model: nn.Module) -> nn.Module:
    """``model`` in DistributedDataParallel when there are several processes, else unchanged.

    DDP copies rank 0's weights to every process, then in every backward pass averages each
    gradient over the processes (in buckets, while backward still runs), so all copies stay equal.

    Example:
        >>> net = nn.Linear(2, 2); wrap(net) is net
        True
    """
    if world_size() == 1:
        return model
    device = model_device(model)
    return DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)


def torchrun_command(module: str, args: Sequence[str] = (), nproc: int = 2) -> list[str]:
    """The command that runs ``python -m module args`` in ``nproc`` processes on this machine.

    ``--standalone`` lets torchrun pick a free port for its rendezvous; across machines use
    ``--nnodes``, ``--node-rank`` and ``--rdzv-endpoint`` instead (see lesson 09).

    Example:
        >>> torchrun_command("alexnet_lesson", ["train"], 2)[2:]
        ['torch.distributed.run', '--standalone', '--nproc-per-node', '2', '-m', 'alexnet_lesson', 'train']
    """
    return [sys.executable, "-m", "torch.distributed.run", "--standalone",
            "--nproc-per-node", str(nproc), "-m", module, *args]  # fmt: skip


def launch(
    module: str, args: Sequence[str] = (), nproc: int = 2, timeout: float = 600
) -> subprocess.CompletedProcess:
    """Run :func:`torchrun_command` and wait; return the finished process (its ``stdout`` and
    ``stderr`` as text). Raises :class:`LaunchError` with the end of its output if it fails.

    Example:
        >>> launch("alexnet_lesson.distributed", ["--help"], nproc=1).returncode  # doctest: +SKIP
        0
    """
    cmd = torchrun_command(module, args, nproc)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        tail = (done.stdout + done.stderr)[-3000:]
        raise LaunchError(f"{' '.join(cmd[2:])} failed (exit {done.returncode}):\n{tail}")
    return done
