"""difftn.methods.ppeps.train: bars and stripes 4 x 4 learned to its entropy floor
ln 30 with >= 99% valid samples; a killed run resumes to the same result."""

import math

import pytest
import torch

from difftn.data.datasets import bars_and_stripes, is_bars_and_stripes
from difftn.methods.ppeps.model import random_ppeps, to_flat
from difftn.methods.ppeps.sample import sample
from difftn.methods.ppeps.train import TrainOptions, evaluate_nll, train


def test_bars_and_stripes_reaches_ln30_and_samples_are_valid():
    x = torch.as_tensor(bars_and_stripes(4, 4))
    model = random_ppeps(4, 4, 3, seed=0, scale=1.0)
    options = TrainOptions(epochs=150, learning_rate=0.2, batch_size=30, seed=0)
    trained, info = train(model, x, options)
    nll = evaluate_nll(trained, x)
    assert nll - math.log(30) < 0.05  # measured 0.0077 (D = 3, exact chi 9; 100 epochs: 0.016)
    assert info.nll_train[-1] == pytest.approx(nll, rel=1e-12)
    samples = sample(trained, 10000, seed=3)
    valid = is_bars_and_stripes(samples.numpy(), 4, 4).mean()
    assert valid >= 0.99  # measured 0.9929 (100 epochs: 0.9894)


def test_killed_run_resumes_to_the_uninterrupted_result(tmp_path):
    x = torch.as_tensor(bars_and_stripes(3, 3))
    model = random_ppeps(3, 3, 2, seed=1, scale=0.5)
    ck = tmp_path / "state.pt"
    full, info_full = train(model, x, TrainOptions(epochs=4, batch_size=4, seed=5))
    # "Kill" after 2 epochs: a run with epochs=2 leaves the checkpoint of epoch 2 ...
    train(model, x, TrainOptions(epochs=2, batch_size=4, seed=5), checkpoint=str(ck))
    state = torch.load(ck, weights_only=False)
    assert state["epoch"] == 2
    # ... which the resumed run (same options but epochs) continues.
    state["options"]["epochs"] = 4
    torch.save(state, ck)
    resumed, info = train(model, x, TrainOptions(epochs=4, batch_size=4, seed=5), checkpoint=str(ck))
    assert torch.equal(to_flat(resumed), to_flat(full))
    assert info.nll_train == info_full.nll_train
    with pytest.raises(ValueError, match="other options"):
        train(model, x, TrainOptions(epochs=4, batch_size=3, seed=5), checkpoint=str(ck))


def test_options_are_validated():
    with pytest.raises(ValueError, match="optimizer"):
        TrainOptions(optimizer="sgd")
    with pytest.raises(ValueError, match="batch_size"):
        TrainOptions(batch_size=0)


def test_a_failed_contraction_names_the_epoch_and_the_kept_checkpoint(tmp_path, monkeypatch):
    import difftn.methods.ppeps.train as tr

    x = torch.as_tensor(bars_and_stripes(3, 3))
    model = random_ppeps(3, 3, 2, seed=1, scale=0.5)
    calls = {"n": 0}
    original = tr.nll

    def failing_in_epoch_2(*args):
        calls["n"] += 1
        if calls["n"] > 4:  # epoch 1 is 4 minibatches (14 images, 4 per batch)
            raise FloatingPointError("boundary MPS: contraction gave Z = -1")
        return original(*args)

    monkeypatch.setattr(tr, "nll", failing_in_epoch_2)
    ck = tmp_path / "state.pt"
    with pytest.raises(FloatingPointError, match=r"\(adam\), epoch 2: boundary MPS.*theta = ln P spans .*holds epoch 1"):
        train(model, x, TrainOptions(epochs=3, batch_size=4, seed=5), checkpoint=str(ck))
    assert torch.load(ck, weights_only=False)["epoch"] == 1
