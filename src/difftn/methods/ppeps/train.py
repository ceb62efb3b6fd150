"""Training a positive PEPS by maximum likelihood.

Loss (nats per image)::

    L(theta) = -<ln PEPS(x)>_{x in batch} + ln Z

one batched boundary-MPS contraction of the images of a minibatch and one of
the network with every pixel summed; the gradient is autograd through both
(``model.nll``).  Optimizers: ``adam`` (minibatches of ``batch_size``
images, reshuffled every epoch by a seeded generator) or ``lbfgs`` (full
batch, strong-Wolfe line search, ``lbfgs_iter`` iterations per epoch).

L-BFGS takes large steps along directions that make patterns impossible:
on 4x4 bars and stripes (D = 3, exact chi) it drives theta to +-30..66
within a few epochs.  Measured from 12 starts (init scale 0.1 and 1, step
0.1, 0.3, 1, seeds 0 and 1, 30 epochs): 5 stopped 0.48-1.5 nats above
ln 30 (Adam: 0.008), and 7 stopped with a contraction whose terms spanned
more than float64 resolves (the error says so, with the epoch and the range
of theta).  Use Adam there.

Resumable: with ``checkpoint`` set, the full state (parameters, optimizer
state, shuffling generator, history) is written after every epoch (to a
temporary file, then renamed, so a kill never leaves a torn file), and a
run started with an existing checkpoint continues from it; the resumed run
equals the uninterrupted one.
"""

import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field

import torch
from tqdm.auto import tqdm

from ...contract.boundary_mps import BoundaryMPSOptions
from .model import PositivePEPS, exact_chi, log_partition, log_peps, nll

__all__ = ["OPTIMIZERS", "TrainOptions", "TrainInfo", "train", "evaluate_nll"]

log = logging.getLogger(__name__)

#: Optimizers of ``train``.
OPTIMIZERS = ("adam", "lbfgs")


@dataclass(frozen=True)
class TrainOptions:
    """Options of ``train``.

    Attributes
    ----------
    epochs : int
        Passes over the training data (>= 0).
    learning_rate : float
        Adam's step size or L-BFGS's initial step (> 0).
    batch_size : int
        Images per Adam step (>= 1; the data size or more: full batch).
    optimizer : str
        ``adam`` or ``lbfgs``.
    chi : int or None
        Boundary-MPS bond; None: exact (D^floor(cols/2)).
    seed : int
        Seed of the minibatch shuffling.
    lbfgs_iter : int
        L-BFGS iterations per epoch (>= 1).
    lr_decay : float
        Adam's step size is multiplied by this after every epoch (in (0, 1]).
    """

    epochs: int = 100
    learning_rate: float = 0.05
    batch_size: int = 100
    optimizer: str = "adam"
    chi: int | None = None
    seed: int = 0
    lbfgs_iter: int = 10
    lr_decay: float = 1.0

    def __post_init__(self):
        if self.epochs < 0:
            raise ValueError(f"epochs must be >= 0, got {self.epochs}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.chi is not None and self.chi < 1:
            raise ValueError(f"chi must be >= 1 or None, got {self.chi}")
        if not 0 < self.lr_decay <= 1:
            raise ValueError(f"lr_decay must be in (0, 1], got {self.lr_decay}")
        if self.lbfgs_iter < 1:
            raise ValueError(f"lbfgs_iter must be >= 1, got {self.lbfgs_iter}")


@dataclass
class TrainInfo:
    """History: entry 0 the initial state, then one entry per epoch."""

    nll_train: list = field(default_factory=list)
    nll_test: list = field(default_factory=list)
    elapsed_s: list = field(default_factory=list)


def _boundary(model, options):
    return BoundaryMPSOptions(chi=exact_chi(model) if options.chi is None else options.chi)


@torch.no_grad()
def evaluate_nll(model: PositivePEPS, x, options: BoundaryMPSOptions | None = None, batch: int = 1024) -> float:
    """-<ln p(x)> over x, in chunks of ``batch`` images."""
    x = torch.as_tensor(x)
    total = sum(float(log_peps(model, x[k:k + batch], options).sum()) for k in range(0, len(x), batch))
    return float(log_partition(model, options)) - total / len(x)


def train(model: PositivePEPS, data, options: TrainOptions, *, test_data=None, checkpoint=None,
          progress: bool = False) -> tuple[PositivePEPS, TrainInfo]:
    """Minimize the NLL; returns the trained model (new tensors) and its history.

    ``checkpoint``: a path; the state is saved there after every epoch and a
    run finding it resumes from it (same options required).
    """
    device = model.params[0][0].device
    x = torch.as_tensor(data, dtype=torch.long).to(device)
    x_test = None if test_data is None else torch.as_tensor(test_data, dtype=torch.long).to(device)
    bmps = _boundary(model, options)
    params = [t.detach().clone().requires_grad_(True) for t in model.parameters()]
    cols = model.cols
    current = PositivePEPS(model.rows, cols, model.bond,
                           [params[i * cols:(i + 1) * cols] for i in range(model.rows)])
    if options.optimizer == "adam":
        opt = torch.optim.Adam(params, lr=options.learning_rate)
    else:
        opt = torch.optim.LBFGS(params, lr=options.learning_rate, max_iter=options.lbfgs_iter,
                                line_search_fn="strong_wolfe")
    gen = torch.Generator().manual_seed(options.seed)
    info = TrainInfo()
    epoch0, elapsed0 = 0, 0.0
    if checkpoint is not None and os.path.exists(checkpoint):
        state = torch.load(checkpoint, weights_only=False)
        if state["options"] != asdict(options):
            raise ValueError(f"checkpoint {checkpoint} was written with other options: {state['options']}")
        with torch.no_grad():
            for p, q in zip(params, state["params"]):
                p.copy_(q)
        opt.load_state_dict(state["optimizer"])
        gen.set_state(state["generator"])
        info = TrainInfo(**state["info"])
        epoch0 = state["epoch"]
        elapsed0 = info.elapsed_s[-1] if info.elapsed_s else 0.0
        log.info("resumed from %s at epoch %d", checkpoint, epoch0)
    start = time.perf_counter() - elapsed0

    def record():
        info.nll_train.append(evaluate_nll(current, x, bmps))
        if x_test is not None:
            info.nll_test.append(evaluate_nll(current, x_test, bmps))
        info.elapsed_s.append(time.perf_counter() - start)

    if epoch0 == 0 and not info.nll_train:
        record()

    def step(batch):
        def closure():
            opt.zero_grad()
            loss = nll(current, batch, bmps)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"positive PEPS training: NLL is {float(loss)}")
            loss.backward()
            return loss

        opt.step(closure)

    bar = tqdm(total=options.epochs, initial=epoch0, disable=not progress, desc="ppeps", unit="epoch")
    for epoch in range(epoch0 + 1, options.epochs + 1):
        try:
            if options.optimizer == "adam":
                order = torch.randperm(len(x), generator=gen).to(device)
                for k in range(0, len(x), options.batch_size):
                    step(x[order[k:k + options.batch_size]])
                for group in opt.param_groups:
                    group["lr"] *= options.lr_decay
            else:
                step(x)
        except FloatingPointError as err:
            theta = torch.cat([p.detach().reshape(-1) for p in params])
            kept = f"; {checkpoint} holds epoch {epoch - 1}" if checkpoint is not None and epoch > 1 else ""
            raise FloatingPointError(f"positive PEPS training ({options.optimizer}), epoch {epoch}: {err}; "
                                     f"theta = ln P spans [{float(theta.min()):.1f}, {float(theta.max()):.1f}]{kept}") from err
        record()
        bar.update(1)
        bar.set_postfix(train=f"{info.nll_train[-1]:.4f}",
                        **({"test": f"{info.nll_test[-1]:.4f}"} if info.nll_test else {}))
        log.info("epoch %d: NLL train %.6f%s, %.1f s", epoch, info.nll_train[-1],
                 f", test {info.nll_test[-1]:.6f}" if info.nll_test else "", info.elapsed_s[-1])
        if checkpoint is not None:
            state = {"epoch": epoch, "options": asdict(options), "params": [p.detach() for p in params],
                     "optimizer": opt.state_dict(), "generator": gen.get_state(), "info": asdict(info)}
            tmp = f"{checkpoint}.tmp"
            torch.save(state, tmp)
            os.replace(tmp, checkpoint)
    bar.close()
    trained = PositivePEPS(model.rows, cols, model.bond,
                           [[p.detach().clone() for p in params[i * cols:(i + 1) * cols]] for i in range(model.rows)])
    if not all(math.isfinite(v) for v in info.nll_train):
        raise FloatingPointError("positive PEPS training: non-finite NLL")
    return trained, info
