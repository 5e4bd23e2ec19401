"""Which network a run trains, by its config's `model`, for the trainer and a Run.

    mlp       part 4's MLP: model.py, trained by fast.py's step, calibrated after training
    wavenet   part 5's hierarchical network (nets.wavenet), running statistics,
              trained by fast_wavenet.py's step (held equal to nets.sgd_step)
    deep      part 3's deep MLP (nets.deep_mlp), running statistics

A run's params dict holds what it trains: for mlp the lecture's C, W1, ...;
for the others nets.py's named parameters and running statistics. bnmean
and bnvar are part 4's calibration, and (1, 0) placeholders for the others.
"""

import numpy as np

from npbackprop import fast, fast_wavenet, model, nets


def _sizes(cfg, vocab_size):
    return vocab_size, cfg.n_embd, cfg.n_hidden, cfg.block_size


def init_params(cfg, vocab_size, rng, dtype):
    """A fresh run's params, drawn from rng (the lecture's initialisation of that model)."""
    if cfg.model == "mlp":
        return model.init_params(vocab_size, cfg.n_embd, cfg.n_hidden, cfg.block_size, rng=rng,
                                 dtype=dtype)
    return nets.init_state(cfg.model, *_sizes(cfg, vocab_size), rng=rng, dtype=dtype)


def workspace(cfg, params, vocab_size):
    """The training buffers: fast.py's for mlp, fast_wavenet's, else nets.Workspace."""
    if cfg.model == "mlp":
        return fast.Workspace(params, cfg.batch_size)
    if cfg.model == "wavenet":
        return fast_wavenet.Workspace(params, *_sizes(cfg, vocab_size))
    return nets.Workspace(cfg.model, params, *_sizes(cfg, vocab_size))


def sgd_step(cfg):
    """The step training runs: step(ws, Xb, Yb, lr) -> (loss, finite)."""
    return {"mlp": fast.fast_sgd_step, "wavenet": fast_wavenet.fast_sgd_step}.get(
        cfg.model, nets.workspace_sgd_step)


def calibrate(cfg, params, X):
    """(bnmean, bnvar): part 4's calibration over X, or empty placeholders (1, 0)."""
    if cfg.model == "mlp":
        return fast.calibrate(params, X)
    dtype = next(iter(params.values())).dtype
    return np.zeros((1, 0), dtype), np.zeros((1, 0), dtype)


def _net(cfg, params, vocab_size):
    return nets.bound(cfg.model, params, *_sizes(cfg, vocab_size))


def split_loss(cfg, params, bnmean, bnvar, X, Y):
    """The mean loss over a whole split, evaluation mode."""
    if cfg.model == "mlp":
        return model.split_loss(params, bnmean, bnvar, X, Y)
    return nets.split_loss(_net(cfg, params, len(params["0.weight"])), params, X, Y)


def sample(cfg, params, bnmean, bnvar, itos, *, rng, num_samples=20, max_len=50):
    """Names drawn the lecture's way from the run's network."""
    if cfg.model == "mlp":
        return model.sample(params, bnmean, bnvar, itos, cfg.block_size, rng=rng,
                            num_samples=num_samples, max_len=max_len)
    return nets.sample(_net(cfg, params, len(itos)), params, itos, cfg.block_size, rng=rng,
                       num_samples=num_samples, max_len=max_len)
