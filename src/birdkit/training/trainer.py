"""One training loop for every method.

The loop only knows the method contract (``forward(x, y) -> {"loss", "output", ...}``,
``stages``, ``trainable_parameters``). It owns:

* data order: in-memory uint8 tensors shuffled per epoch by a generator seeded from
  (seed, epoch), so an interrupted run resumed from its last checkpoint reproduces the
  uninterrupted one exactly (the global torch RNG is reseeded per epoch too);
* optimisation: SGD or AdamW, cosine schedule stepped per iteration, optional clipping;
* safety: a NaN or infinite loss stops the run (``NonFiniteLossError``) before anything is
  written, so the last good checkpoint stays; checkpoints are safetensors + JSON, atomic;
* records: per-epoch metrics to ``metrics.csv`` and TensorBoard, ``train.log`` (starts,
  resumes, epochs, stops), ``run.json`` (the resolved
  config, the method's settings and a SHA-256 of the training data), the final model checkpoint;
* identity: a run directory is resumed or reused only when its ``run.json`` matches the run asked
  for; otherwise ``RunMismatchError`` names what differs and nothing is touched;
* one writer: the run directory is locked while it trains (:func:`birdkit.io.directory_lock`); a
  second process training into it gets ``RunLockedError`` instead of interleaving files.

The library never prints; pass ``progress`` (a callable receiving event dicts) to show bars.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from birdkit.checkpoint import load_checkpoint, load_training_state, save_checkpoint, save_training_state
from birdkit.config import AugmentConfig, TrainConfig
from birdkit.data import TensorData
from birdkit.errors import BirdkitError, RunMismatchError, ShapeError
from birdkit.features import accuracy as _accuracy
from birdkit.functional.distributed import rank, world_size
from birdkit.io import directory_lock, json_diff, read_csv, read_json, write_csv, write_json
from birdkit.methods import TransferMethod
from birdkit.training.augment import CorruptionAugment
from birdkit.training.distributed import barrier, convert_global_batchnorm, is_main, reduce_sum
from birdkit.training.seeds import epoch_seed, order_seed

__all__ = ["LOG_FILE", "METRICS_FILE", "MODEL_FILE", "NOT_IDENTITY", "RUN_FILE", "STATE_FILE", "FitResult",
           "NonFiniteLossError", "Trainer", "accuracy", "build_optimizer", "build_scheduler"]

log = logging.getLogger(__name__)

STATE_FILE = "state.safetensors"
MODEL_FILE = "model.safetensors"
METRICS_FILE = "metrics.csv"
RUN_FILE = "run.json"
LOG_FILE = "train.log"
# TrainConfig fields that change how a run is executed or logged, not what it computes
NOT_IDENTITY = frozenset({"device", "threads", "tensorboard", "checkpoint_every", "eval_batch_size", "teacher_cache",
                          "distributed_cka", "distributed_bn"})  # the last two: in the fingerprint's "world"


class NonFiniteLossError(BirdkitError, FloatingPointError):
    """The loss became NaN or infinite; the run stopped and its last good checkpoint was kept."""


@dataclass
class FitResult:
    epochs_run: int
    resumed_from: int | None
    history: list[dict[str, float]] = field(default_factory=list)


def build_optimizer(params, cfg: TrainConfig, lr_scale: float = 1.0) -> torch.optim.Optimizer:
    o = cfg.optim
    params = list(params)
    if not params:
        raise BirdkitError("Nothing to train: the method has no trainable parameters")
    if o.name == "sgd":
        return torch.optim.SGD(params, lr=o.lr * lr_scale, momentum=o.momentum, nesterov=o.nesterov,
                               weight_decay=o.weight_decay)
    return torch.optim.AdamW(params, lr=o.lr * lr_scale, weight_decay=o.weight_decay)


def build_scheduler(opt: torch.optim.Optimizer, cfg: TrainConfig, total_steps: int):
    o = cfg.optim

    def factor(step: int) -> float:
        if o.warmup_steps and step < o.warmup_steps:
            return (step + 1) / o.warmup_steps
        if o.schedule == "constant" or total_steps <= 0:
            return 1.0
        t = min(1.0, (step - o.warmup_steps) / max(1, total_steps - o.warmup_steps))
        return 0.5 * (1 + math.cos(math.pi * t))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


def accuracy(model: nn.Module, data: TensorData, batch_size: int = 512, device: str = "cpu") -> float:
    """Clean top-1 accuracy of ``model`` on ``data`` (eval mode restored afterwards)."""
    return _accuracy(model, data.images, data.targets, data.normalize, batch_size, device)


class Trainer:
    """Train ``method`` on ``train`` (optionally validating on ``val``) into ``run_dir``."""

    def __init__(
        self,
        method: TransferMethod,
        train: TensorData,
        cfg: TrainConfig,
        run_dir: str | Path,
        *,
        val: TensorData | None = None,
        progress: Callable[[dict[str, Any]], None] | None = None,
        checkpoint_meta: dict[str, Any] | None = None,
    ):
        self.method = method
        self.train_data = train
        self.val_data = val
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.progress = progress or (lambda ev: None)
        self.checkpoint_meta = checkpoint_meta or {}
        self._run_checked = False  # check_run_dir done: the fingerprint is of the initial weights
        self.device = torch.device(cfg.device)
        self.world, self.rank = world_size(), rank()  # > 1 under torchrun (docs/distributed.md)
        if cfg.batch_size * self.world > len(train):
            per = f" x {self.world} processes" if self.world > 1 else ""
            raise ShapeError(f"batch_size {cfg.batch_size}{per} exceeds the {len(train)} training samples")
        aug_cfg = cfg.augment
        if aug_cfg is None and method.needs_augment:  # oracle: the default augmentation
            aug_cfg = AugmentConfig()
        self.augment = (CorruptionAugment(aug_cfg, len(train), seed=cfg.seed)
                        if aug_cfg is not None and method.trains else None)

    # ---------------------------------------------------------------------------------------
    def fit_or_load(self) -> nn.Module:
        """The trained model of this run: loaded when the run directory already holds a finished
        model of this very run (checked against ``run.json``), else trained, resuming from the
        last checkpoint of an interrupted run."""
        if (self.run_dir / MODEL_FILE).exists():
            self.check_run_dir()
            log.info("reusing finished run %s", self.run_dir)
        else:
            self.fit(resume=True)
        model, _ = load_checkpoint(self.run_dir / MODEL_FILE)
        return model

    def fit(self, resume: bool = True) -> FitResult:
        """Train (resuming from the last checkpoint when ``resume``) while holding the run
        directory's lock: a second process writing it is refused (``RunLockedError``). In a
        data-parallel run rank 0 holds it and writes; the other ranks only read."""
        if not is_main():
            return self._fit(resume)
        with directory_lock(self.run_dir):
            return self._fit(resume)

    def _fit(self, resume: bool) -> FitResult:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.check_run_dir()
        if self.cfg.threads:
            torch.set_num_threads(self.cfg.threads)
        method = self.method.to(self.device)
        if self.world > 1:
            if self.cfg.distributed_bn == "global":
                convert_global_batchnorm(method)
            if hasattr(method, "global_cka"):
                method.global_cka = self.cfg.distributed_cka == "global"
        # the teacher sees the same input of a sample in every epoch only without augmentation
        self._keyed = bool(self.cfg.teacher_cache and self.augment is None and method.trains
                           and method.enable_teacher_cache(len(self.train_data)))
        stages = [s for s in method.stages(self.cfg.epochs) if s.epochs > 0] if method.trains else []
        # drop_last: a fixed (global) batch size for CKA
        steps_per_epoch = len(self.train_data) // (self.cfg.batch_size * self.world)

        start_stage, start_epoch, resumed_from = 0, 0, None
        state_path = self.run_dir / STATE_FILE
        history = self._read_history()
        if resume and state_path.exists():
            info = load_training_state(state_path, model=method)
            start_stage, start_epoch = int(info["stage"]), int(info["epoch"])
            resumed_from = sum(s.epochs for s in stages[:start_stage]) + start_epoch
            history = history[:resumed_from]
            log.info("resuming %s from epoch %d", self.run_dir, resumed_from)
        elif history:
            history = []

        writer = self._tensorboard() if is_main() else None
        global_epoch = resumed_from or 0
        total = sum(s.epochs for s in stages)
        procs = f" ({self.world} processes x {self.cfg.batch_size})" if self.world > 1 else ""
        self._runlog(f"{'resume at epoch ' + str(resumed_from) if resumed_from is not None else 'start'}: "
                     f"method {method.name}, {total} epochs x {steps_per_epoch} steps of "
                     f"{self.cfg.batch_size * self.world}{procs}, {len(self.train_data)} training images, "
                     f"seed {self.cfg.seed}")
        try:
            for si in range(start_stage, len(stages)):
                stage = stages[si]
                method.set_stage(stage.name)
                opt = build_optimizer(method.trainable_parameters(), self.cfg, stage.lr_scale)
                sched = build_scheduler(opt, self.cfg, stage.epochs * steps_per_epoch)
                e0 = start_epoch if si == start_stage else 0
                if e0 > 0:  # resumed mid-stage: restore optimiser and schedule
                    load_training_state(state_path, model=method, optimizer=opt, scheduler=sched)
                # one DDP wrapper per stage: a stage may change which parameters train (LP-FT)
                runner = DistributedDataParallel(method) if self.world > 1 else method
                for epoch in range(e0, stage.epochs):
                    row = self._run_epoch(method, opt, sched, stage.name, epoch, global_epoch, steps_per_epoch,
                                          runner)
                    history.append(row)
                    self._write_history(history)
                    if writer is not None:
                        for k, v in row.items():
                            if isinstance(v, (int, float)) and k not in ("epoch",):
                                writer.add_scalar(k, v, global_epoch + 1)
                    global_epoch += 1
                    last_of_stage = epoch + 1 == stage.epochs
                    nxt = (si + 1, 0) if last_of_stage else (si, epoch + 1)
                    if (epoch + 1) % self.cfg.checkpoint_every == 0 or last_of_stage:
                        self._save_state(method, opt, sched, *nxt)
                    self._runlog("epoch " + " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                                     for k, v in row.items()))
        except NonFiniteLossError as e:
            self._runlog(f"stopped: {e}")
            raise
        except BaseException as e:  # interrupted (Ctrl-C) or failed: say where it can resume from
            self._runlog(f"stopped by {type(e).__name__} during epoch {global_epoch + 1}; "
                         f"{len(history)} finished epochs are checkpointed")
            raise
        finally:
            if writer is not None:
                writer.close()
        method.set_batch_keys(None)
        method.eval()
        final_metrics = {k: v for k, v in (history[-1] if history else {}).items() if isinstance(v, (int, float))}
        if is_main():
            save_checkpoint(self.run_dir / MODEL_FILE, method.model,
                            metrics=final_metrics, extra={"method": method.name, **self.checkpoint_meta})
        barrier()
        self._runlog(f"finished: {MODEL_FILE} written")
        return FitResult(global_epoch - (resumed_from or 0), resumed_from, history)

    def _runlog(self, msg: str) -> None:
        """Append one timestamped line to the run directory's ``train.log`` (the human-readable
        history of the run: starts, resumes, epochs, stops); rank 0 only."""
        if not is_main():
            return
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with (self.run_dir / LOG_FILE).open("a") as f:
            f.write(f"{stamp} {msg}\n")

    # ---------------------------------------------------------------------------------------
    def fingerprint(self) -> dict[str, Any]:
        """What makes this run this run: method, training config (minus execution-only fields),
        checkpoint metadata (method settings, data config), SHA-256 of the starting weights and of
        the training data. Call before training (the weights hash is of the initial state)."""
        d = self.train_data
        h = hashlib.sha256()
        h.update(d.images.contiguous().numpy().tobytes())
        h.update(d.targets.contiguous().numpy().tobytes())
        train = {k: v for k, v in self.cfg.model_dump(mode="json").items() if k not in NOT_IDENTITY}
        w = hashlib.sha256()  # the starting weights (student, teacher, heads) before any step
        for k, v in sorted(self.method.state_dict().items()):
            w.update(k.encode())
            w.update(v.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes()
                     if v.numel() else b"")
        world = ({"world": {"processes": self.world, "distributed_cka": self.cfg.distributed_cka,
                            "distributed_bn": self.cfg.distributed_bn}} if self.world > 1 else {})
        return json.loads(json.dumps({
            **world,
            "method": self.method.name,
            "init_sha256": w.hexdigest(),
            "train": train,
            "meta": self.checkpoint_meta,
            "data": {"n": len(d), "shape": list(d.images.shape), "mean": list(d.mean), "std": list(d.std),
                     "sha256": h.hexdigest()},
        }, default=str))

    def check_run_dir(self) -> None:
        """Record this run's fingerprint in ``run.json``, or check it against the one already there.

        Raises ``RunMismatchError`` (and changes nothing) when the directory holds a different run.
        A directory from before ``run.json`` existed is adopted with a warning. Done once per
        Trainer: later calls (``fit`` after an explicit check) return at once."""
        if self._run_checked:
            return
        if self.world == 1:
            self._check_run_dir(write=True)
            return
        err = None
        if is_main():  # rank 0 checks and writes; the others read what it wrote
            try:
                self._check_run_dir(write=True)
            except RunMismatchError as e:
                err = e
        refused = reduce_sum([float(err is not None)])[0]
        if err is not None:
            raise err
        if refused:
            raise RunMismatchError(f"{self.run_dir}: rank 0 refused the run directory (see its error)")
        self._check_run_dir(write=False)

    def _check_run_dir(self, write: bool) -> None:
        if self._run_checked:
            return
        path = self.run_dir / RUN_FILE
        current = self.fingerprint()
        if path.exists():
            stored = read_json(path)
            diffs = json_diff(stored, current)
            if diffs:
                shown = "; ".join(diffs[:6]) + (f"; and {len(diffs) - 6} more" if len(diffs) > 6 else "")
                raise RunMismatchError(
                    f"{self.run_dir} holds a different run ({shown}). Nothing was changed: use another "
                    "output directory, or delete this one to start over.")
            self._run_checked = True
            return
        if not write:
            raise RunMismatchError(f"{self.run_dir} has no {RUN_FILE} after rank 0 checked it")
        if (self.run_dir / STATE_FILE).exists() or (self.run_dir / MODEL_FILE).exists():
            log.warning("%s has no %s; adopting it without checking its set-up", self.run_dir, RUN_FILE)
        write_json(path, current, indent=1, sort_keys=True)
        self._run_checked = True

    # ---------------------------------------------------------------------------------------
    def _run_epoch(self, method, opt, sched, stage: str, epoch: int, global_epoch: int, steps: int,
                   runner: nn.Module | None = None) -> dict:
        """One epoch; ``runner`` is the method or its DDP wrapper. Process ``r`` of ``N`` takes rows
        ``[r b, (r+1) b)`` of each global batch of ``N b`` drawn in the same order everywhere."""
        runner = runner if runner is not None else method
        b, lo = self.cfg.batch_size, self.rank * self.cfg.batch_size
        cfg, data = self.cfg, self.train_data
        torch.manual_seed(epoch_seed(cfg.seed, global_epoch))
        g = torch.Generator().manual_seed(order_seed(cfg.seed, global_epoch))
        order = torch.randperm(len(data), generator=g)
        if self.augment is not None:
            self.augment.set_epoch(global_epoch)
        method.train()
        sums: dict[str, float] = {}
        correct = seen = 0
        t0 = time.perf_counter()
        if is_main():
            self.progress({"event": "epoch_start", "stage": stage, "epoch": global_epoch, "steps": steps})
        for step in range(steps):
            glob = order[step * b * self.world:(step + 1) * b * self.world]
            idx = glob[lo:lo + b]
            x = data.images[idx].float().div_(255)
            if self.augment is not None:
                x = self.augment(x, idx)
            x = data.normalize(x).to(self.device)
            y = data.targets[idx].to(self.device)
            method.set_batch_keys(idx if self._keyed else None)
            out = runner(x, y)
            loss = out["loss"]
            finite = bool(torch.isfinite(loss)) if self.world == 1 else reduce_sum([float(torch.isfinite(loss))])[0] \
                == self.world
            if not finite:
                raise NonFiniteLossError(
                    f"Loss became {loss.item()} at epoch {global_epoch + 1}, step {step + 1} "
                    f"(terms: { {k: float(v) for k, v in out.items() if k not in ('loss', 'output')} }). "
                    f"Stopped; the last good checkpoint is kept in {self.run_dir}. "
                    "Lower the learning rate or enable grad_clip."
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.optim.grad_clip:
                torch.nn.utils.clip_grad_norm_(method.trainable_parameters(), cfg.optim.grad_clip)
            opt.step()
            sched.step()
            for k, v in out.items():
                if k != "output":
                    sums[k] = sums.get(k, 0.0) + float(v.detach())
            correct += (out["output"].argmax(1) == y).sum().item()
            seen += len(y)
            if is_main():
                self.progress({"event": "step", "step": step + 1, "steps": steps, "loss": float(loss.detach())})
        if self.world > 1:  # every process's terms: means over processes, counts summed
            keys = sorted(sums)
            tot = reduce_sum([*(sums[k] for k in keys), correct, seen], self.device)
            sums = {k: v / self.world for k, v in zip(keys, tot, strict=False)}
            correct, seen = tot[-2], tot[-1]
        row: dict[str, Any] = {"epoch": global_epoch + 1, "stage": stage}
        row.update({f"train_{k}": v / max(1, steps) for k, v in sums.items()})
        row["train_acc"] = correct / max(1, seen)
        row["lr"] = opt.param_groups[0]["lr"]
        row["seconds"] = time.perf_counter() - t0
        if self.val_data is not None and is_main():
            row["val_acc"] = accuracy(method.model, self.val_data, cfg.eval_batch_size, str(self.device))
        log.info("epoch %d %s", global_epoch + 1,
                 {k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()})
        if is_main():
            self.progress({"event": "epoch_end", **row})
        return row

    def _save_state(self, method, opt, sched, stage_idx: int, epoch: int) -> None:
        if is_main():
            save_training_state(self.run_dir / STATE_FILE, model=method, optimizer=opt, scheduler=sched,
                                extra={"stage": stage_idx, "epoch": epoch})
        barrier()

    def _tensorboard(self):
        if not self.cfg.tensorboard:
            return None
        try:  # optional extra: birdkit[report]
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # pragma: no cover - optional extra
            log.warning("tensorboard is not installed (pip install birdkit[report]); skipping TensorBoard logs")
            return None
        return SummaryWriter(str(self.run_dir / "tb"))

    def _read_history(self) -> list[dict]:
        p = self.run_dir / METRICS_FILE
        return read_csv(p) if p.exists() else []

    def _write_history(self, history: list[dict]) -> None:
        if is_main():
            write_csv(self.run_dir / METRICS_FILE, history)
