"""Data-parallel training across processes (``torchrun``): process group, sharding, batch norm.

A trainer that runs under ``torchrun --nproc-per-node N`` calls :func:`init_from_env` once
(gloo on the CPU, nccl on CUDA, one GPU per local rank) and :func:`current` wherever it needs
its rank. The rule every helper here follows: the N processes together compute exactly what one
process computes on the *global* batch, up to float rounding, so a distributed run is the same
training as a single-process one with the same global batch (and a checkpoint written by either
resumes in the other):

- every rank draws the same global batch indices from the same seeded generator and keeps its
  contiguous share (:meth:`Dist.shard`; shares differ by at most one image);
- a per-sample mean loss on a share is scaled by ``share * N / global`` (:meth:`Dist.loss_scale`)
  so that DistributedDataParallel's gradient *average* is the gradient of the global mean;
- batch norm normalises over the global batch (:func:`sync_batch_norm`: torch's
  ``SyncBatchNorm`` on CUDA, :class:`GlobalBatchNorm2d` on the CPU, where ``SyncBatchNorm`` is
  refused).

Imports torch (it subclasses a torch module): import it only where training happens.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn


@dataclass(frozen=True)
class Dist:
    """Where this process stands: ``rank`` of ``world`` processes (``world == 1``: not distributed)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        """The one process that writes files and prints."""
        return self.rank == 0

    def shard(self, n: int) -> slice:
        """This rank's contiguous share of ``n`` items (shares differ by at most one)."""
        return slice(self.rank * n // self.world, (self.rank + 1) * n // self.world)

    def loss_scale(self, n: int) -> float:
        """Factor on this rank's mean loss over its share of ``n`` so that averaging the gradients
        over ranks gives the gradient of the mean over all ``n`` (exactly 1 for equal shares)."""
        s = self.shard(n)
        return (s.stop - s.start) * self.world / n


def current() -> Dist:
    """This process's :class:`Dist`: from the initialised default process group, else world 1."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return Dist()
    return Dist(rank=dist.get_rank(), world=dist.get_world_size(),
                local_rank=int(os.environ.get("LOCAL_RANK", dist.get_rank())), backend=str(dist.get_backend()))


def env_world_size() -> int:
    """``WORLD_SIZE`` as set by ``torchrun`` (1 when absent)."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def init_from_env(device: str) -> tuple[Dist, str]:
    """Join the process group ``torchrun`` describes (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``,
    ``MASTER_ADDR``, ``MASTER_PORT``) and return it with this rank's device.

    ``device`` is an already resolved device string: ``cpu`` -> gloo; ``cuda`` -> nccl with
    ``cuda:LOCAL_RANK`` (one GPU per process). An explicit ``cuda:K`` with more than one process
    is refused: every rank would share that GPU. Without ``WORLD_SIZE`` > 1 nothing is done.
    """
    import torch.distributed as dist

    world = env_world_size()
    if world == 1:
        return Dist(), device
    if not dist.is_available():
        raise ValueError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.startswith("cuda"):
        if ":" in device:
            raise ValueError(f"--device {device}: under torchrun each process takes the GPU of its local rank; "
                             "pass --device cuda (or auto)")
        if local_rank >= torch.cuda.device_count():
            raise ValueError(f"local rank {local_rank} has no GPU: {torch.cuda.device_count()} visible; "
                             "start at most that many processes per node")
        device, backend = f"cuda:{local_rank}", "nccl"
        torch.cuda.set_device(local_rank)
    elif device == "cpu":
        backend = "gloo"
    else:
        raise ValueError(f"--device {device}: distributed training runs on cpu (gloo) or cuda (nccl)")
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return current(), device


def shutdown() -> None:
    """Leave the process group (after a barrier, so no rank exits while another still writes)."""
    import gc

    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        # unreferenced DDP wrappers go first: one still alive at interpreter exit can hold gloo
        # work with tensors whose late destruction aborts the rank (pytorch/pytorch#179291)
        gc.collect()
        dist.barrier()
        dist.destroy_process_group()


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """In-place sum over ranks (no autograd); a no-op when not distributed."""
    import torch.distributed as dist

    if current().enabled:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def all_gather_object(obj: Any) -> list[Any]:
    """Every rank's ``obj``, in rank order (``[obj]`` when not distributed)."""
    import torch.distributed as dist

    d = current()
    if not d.enabled:
        return [obj]
    out: list[Any] = [None] * d.world
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every rank (``obj`` itself when not distributed)."""
    import torch.distributed as dist

    if not current().enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


class _SumOverRanks(torch.autograd.Function):
    """``all_reduce(SUM)`` with its adjoint: the gradient of a sum over ranks is the sum of every
    rank's incoming gradient (``torch.distributed.nn``'s own is deprecated)."""

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor, group: Any) -> torch.Tensor:  # type: ignore[override]
        import torch.distributed as dist

        ctx.group = group
        out = tensor.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(out, op=dist.ReduceOp.SUM, group=group)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        return _SumOverRanks.apply(grad, ctx.group), None


def sum_over_ranks(tensor: torch.Tensor, group: Any = None) -> torch.Tensor:
    """Differentiable sum of ``tensor`` over the ranks of ``group`` (default: all)."""
    return _SumOverRanks.apply(tensor, group)


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """``BatchNorm2d`` whose training statistics are those of the global batch across ranks.

    The CPU counterpart of ``torch.nn.SyncBatchNorm`` (which refuses CPU tensors): the batch
    mean and biased variance come from two differentiable all-reduces (sum, then the sum of
    squared deviations: two passes, as accurate as one process's kernel), so gradients flow to
    every rank's inputs as they would in one process. Running statistics are updated with the
    global values (variance unbiased over the global count), so every rank's buffers agree. In
    eval mode, or when not distributed, it is ``BatchNorm2d``. State dict keys are
    ``BatchNorm2d``'s.
    """

    def __init__(self, *args: Any, group: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.group = group

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        if not (self.training and dist.is_available() and dist.is_initialized()
                and dist.get_world_size(self.group) > 1):
            return super().forward(x)
        self._check_input_dim(x)
        dims = (0, 2, 3)
        count = torch.tensor([float(x.shape[0] * x.shape[2] * x.shape[3])], dtype=x.dtype, device=x.device)
        n = sum_over_ranks(count, self.group)
        mean = sum_over_ranks(x.sum(dims), self.group) / n
        centred = x - mean[None, :, None, None]
        var = sum_over_ranks(centred.pow(2).sum(dims), self.group) / n
        y = centred * torch.rsqrt(var + self.eps)[None, :, None, None]
        if self.affine:
            y = y * self.weight[None, :, None, None] + self.bias[None, :, None, None]
        if self.track_running_stats and self.running_mean is not None:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = (1.0 / float(self.num_batches_tracked)) if self.momentum is None else self.momentum
                total = float(n)
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(var.detach() * (total / max(total - 1, 1.0)), alpha=m)
        return y


def sync_batch_norm(net: nn.Module, device: torch.device | str, group: Any = None) -> nn.Module:
    """``net`` with every ``BatchNorm2d`` normalising over the global batch: ``SyncBatchNorm`` on
    CUDA, :class:`GlobalBatchNorm2d` elsewhere (parameters and buffers carried over)."""
    if torch.device(device).type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(net, process_group=group)

    def convert(m: nn.Module) -> nn.Module:
        if isinstance(m, nn.BatchNorm2d) and not isinstance(m, GlobalBatchNorm2d):
            g = GlobalBatchNorm2d(m.num_features, m.eps, m.momentum, m.affine, m.track_running_stats, group=group)
            g.load_state_dict(m.state_dict())
            g.train(m.training)
            return g.to(next(iter(m.state_dict().values())).device) if m.state_dict() else g
        for name, child in m.named_children():
            setattr(m, name, convert(child))
        return m

    return convert(net)


def wrap_ddp(net: nn.Module, device: torch.device | str) -> nn.Module:
    """``net`` in ``DistributedDataParallel`` (one device per process on CUDA, none on the CPU)."""
    from torch.nn.parallel import DistributedDataParallel as DDP

    device = torch.device(device)
    if device.type == "cuda":
        return DDP(net, device_ids=[device.index if device.index is not None else torch.cuda.current_device()])
    return DDP(net)


__all__ = ["Dist", "GlobalBatchNorm2d", "all_gather_object", "all_reduce_sum", "broadcast_object", "current",
           "env_world_size", "init_from_env", "shutdown", "sum_over_ranks", "sync_batch_norm", "wrap_ddp"]
