"""Positive-PEPS targets (issue 12): digits NLL, epoch cost, and a 28x28 contraction.

    python benchmarks/ppeps_targets.py [--threads 2] [--part digits|born|epoch|grid28|all]

Prints one JSON line per measurement:

* ``digits``: 8x8 digits binarized at 8, 20% held out (seed 0; the Born
  study's split): train and test NLL of the positive PEPS for D in --D after
  --epochs Adam epochs at chi = min(--chi, D^4), with parameter counts, beside
  the independent-pixel model (Laplace-smoothed).
* ``born``: the MPS Born machine on the same split for D_max in --born-dmax
  (two-site sweeps), with its parameter count, for the comparison at equal
  parameters.
* ``epoch``: wall time of one Adam epoch over the digits training set
  (batch --batch-size) at each D, on the threads given (and CUDA if present).
* ``grid28``: a 28x28 grid of random non-negative tensors (P = exp(N(0, 1)))
  at D = 2: ln Z and a batch of 64 ln PEPS(x) (random images) for chi in
  --grid-chi; finite, and the change between successive chi.
"""

import argparse
import json
import time

import torch

from difftn.methods.born import SweepOptions, independent_pixel_nll, random_mps, train_sweeps
from difftn.contract.boundary_mps import BoundaryMPSOptions
from difftn.data.datasets import digits
from difftn.methods.ppeps import log_partition, log_peps, nll, random_ppeps
from difftn.methods.ppeps.train import TrainOptions, evaluate_nll, train


def emit(**record):
    print(json.dumps(record), flush=True)


def digits_nll(args):
    x, t = digits(threshold=8, test_fraction=0.2, seed=0)
    emit(part="baseline", train_nll=independent_pixel_nll(x, alpha=1.0), test_nll=independent_pixel_nll(x, t, alpha=1.0))
    for D in args.D:
        chi = min(args.chi, D**4)
        start = time.perf_counter()
        model = random_ppeps(8, 8, D, seed=args.seed, scale=args.init_scale)
        opts = TrainOptions(epochs=args.epochs, learning_rate=args.lr, batch_size=args.batch_size, chi=chi,
                            seed=args.seed, lr_decay=args.lr_decay)
        model, info = train(model, torch.as_tensor(x), opts, test_data=torch.as_tensor(t), progress=False)
        emit(part="digits", D=D, chi=chi, parameters=model.num_parameters(), epochs=args.epochs,
             train_nll=info.nll_train[-1], test_nll=info.nll_test[-1],
             best_test_nll=min(info.nll_test), test_history=info.nll_test, wall_s=time.perf_counter() - start)


def born(args):
    x, t = digits(threshold=8, test_fraction=0.2, seed=0)
    for D in args.born_dmax:
        start = time.perf_counter()
        opts = SweepOptions(max_bond=D, sweeps=args.born_sweeps, learning_rate=0.1, cutoff=1e-7)
        mps, info = train_sweeps(random_mps(64, 2, seed=args.seed), x, opts, test_data=t)
        params = sum(A.numel() for A in mps.tensors)
        emit(part="born", max_bond=D, parameters=params, largest_bond=max(mps.bond_dimensions),
             sweeps=args.born_sweeps, train_nll=info.nll_train[-1], test_nll=info.nll_test[-1],
             best_test_nll=min(info.nll_test), wall_s=time.perf_counter() - start)


def epoch_cost(args):
    x, _ = digits(threshold=8, test_fraction=0.2, seed=0)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        for D in args.D:
            chi = min(args.chi, D**4)
            model = random_ppeps(8, 8, D, seed=0, scale=1.0, device=device)
            params = model.parameters()
            for p in params:
                p.requires_grad_()
            opt = torch.optim.Adam(params, lr=0.01)
            data = torch.as_tensor(x).to(device)
            bm = BoundaryMPSOptions(chi=chi)
            start = time.perf_counter()
            for k in range(0, len(data), args.batch_size):
                opt.zero_grad()
                loss = nll(model, data[k:k + args.batch_size], bm)
                loss.backward()
                opt.step()
            if device == "cuda":
                torch.cuda.synchronize()
            emit(part="epoch", device=device, threads=torch.get_num_threads(), D=D, chi=chi,
                 batch_size=args.batch_size, images=len(data), epoch_s=time.perf_counter() - start)


def grid28(args):
    model = random_ppeps(28, 28, 2, seed=args.seed, scale=1.0)
    x = torch.randint(0, 2, (64, 784), generator=torch.Generator().manual_seed(args.seed))
    previous = None
    for chi in args.grid_chi:
        start = time.perf_counter()
        with torch.no_grad():
            lnz = float(log_partition(model, BoundaryMPSOptions(chi=chi)))
            lp = log_peps(model, x, BoundaryMPSOptions(chi=chi))
        record = dict(part="grid28", D=2, chi=chi, lnz=lnz, lnpeps_mean=float(lp.mean()),
                      finite=bool(torch.isfinite(lp).all()) and lnz == lnz, wall_s=time.perf_counter() - start)
        if previous is not None:
            record["lnz_change"] = lnz - previous[0]
            record["lnpeps_max_change"] = float((lp - previous[1]).abs().max())
        previous = (lnz, lp)
        emit(**record)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--part", choices=["digits", "born", "epoch", "grid28", "all"], default="all")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--D", type=int, nargs="+", default=[2, 3, 4])
    p.add_argument("--chi", type=int, default=16, help="boundary-MPS bond (capped at the exact D^4)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--lr-decay", type=float, default=1.0)
    p.add_argument("--init-scale", type=float, default=0.5)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--born-dmax", type=int, nargs="+", default=[4, 8, 16])
    p.add_argument("--born-sweeps", type=int, default=10)
    p.add_argument("--grid-chi", type=int, nargs="+", default=[4, 8, 16, 32])
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    parts = {"digits": digits_nll, "born": born, "epoch": epoch_cost, "grid28": grid28}
    for name, run in parts.items():
        if args.part in (name, "all"):
            run(args)


if __name__ == "__main__":
    main()
