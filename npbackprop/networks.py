"""Which network a run trains, by its config's `model`, for the trainer and a Run.

    mlp       part 4's MLP: model.py, trained by fast.py's step, calibrated after training;
              with bn_stats "running", part 3's running statistics instead (momentum 0.001)
    wavenet   part 5's hierarchical network (nets.wavenet), running statistics,
              trained by fast_wavenet.py's step (held equal to nets.sgd_step)
    deep      part 3's deep MLP (nets.deep_mlp), running statistics

A run's params dict holds what it trains: for mlp the lecture's C, W1, ...;
for the others nets.py's named parameters and running statistics. bnmean
and bnvar are part 4's calibration (or the mlp's running statistics), and
(1, 0) placeholders for the others.
"""

import numpy as np

from npbackprop import fast, fast_wavenet, layers, model, nets

# part 3's momentum for the single batchnorm layer's running statistics
MLP_MOMENTUM = 0.001
# rows a chunk when the mlp evaluates a split: its (4096, H) temporaries are reused from
# malloc's pool, where (65536, H) ones were fresh pages each time (page faults; 3x the
# time measured, the same loss to 1e-8)
EVAL_CHUNK = 4096


def _sizes(cfg, vocab_size):
    return vocab_size, cfg.n_embd, cfg.n_hidden, cfg.block_size


def init_params(cfg, vocab_size, rng, dtype):
    """A fresh run's params, drawn from rng (the lecture's initialisation of that model)."""
    if cfg.model == "mlp":
        return model.init_params(vocab_size, cfg.n_embd, cfg.n_hidden, cfg.block_size, rng=rng,
                                 dtype=dtype)
    return nets.init_state(cfg.model, *_sizes(cfg, vocab_size), rng=rng, dtype=dtype)


def mlp_running(cfg):
    """True for part 4's mlp keeping part 3's running statistics (bn_stats "running")."""
    return cfg.model == "mlp" and cfg.bn_stats == "running"


def init_running(cfg, params):
    """The mlp's running (bnmean, bnvar), (1, H) zeros and ones, or None when it calibrates."""
    if not mlp_running(cfg):
        return None
    gain = params["bngain"]
    return np.zeros_like(gain), np.ones_like(gain)


def workspace(cfg, params, vocab_size, running=None, check_batches=True):
    """The training buffers: fast.py's for mlp, fast_wavenet's, else nets.Workspace.

    running: the mlp's (bnmean, bnvar) buffers, which the step updates in place.
    check_batches False: the fast steps skip their per-batch input checks (for
    batches drawn from a split that batches.check_split passed).
    """
    if cfg.model == "mlp":
        ws = fast.Workspace(params, cfg.batch_size, check_batches=check_batches)
        ws.running, ws.keep_stats = running, running is not None
        return ws
    if cfg.model == "wavenet":
        return fast_wavenet.Workspace(params, *_sizes(cfg, vocab_size),
                                      check_batches=check_batches)
    return nets.Workspace(cfg.model, params, *_sizes(cfg, vocab_size))


def running_sgd_step(ws, Xb, Yb, lr):
    """fast.fast_sgd_step, then part 3's update of ws.running from the batch statistics."""
    loss, finite = fast.fast_sgd_step(ws, Xb, Yb, lr)
    if finite:
        mean, var = ws.running
        mean[...], var[...] = layers.running_update(mean, var, ws.bnmean, ws.bnvar, MLP_MOMENTUM)
    return loss, finite


def sgd_step(cfg):
    """The step training runs: step(ws, Xb, Yb, lr) -> (loss, finite)."""
    if mlp_running(cfg):
        return running_sgd_step
    return {"mlp": fast.fast_sgd_step, "wavenet": fast_wavenet.fast_sgd_step}.get(
        cfg.model, nets.workspace_sgd_step)


def calibrate(cfg, params, X):
    """(bnmean, bnvar): part 4's calibration over X, or empty placeholders (1, 0)."""
    if cfg.model == "mlp":
        return fast.calibrate(params, X)
    dtype = next(iter(params.values())).dtype
    return np.zeros((1, 0), dtype), np.zeros((1, 0), dtype)


def statistics(cfg, params, running, X):
    """(bnmean, bnvar) for evaluation: the running buffers (copied), else calibrate over X."""
    if running is not None:
        return tuple(a.copy() for a in running)
    return calibrate(cfg, params, X)


def keeps_running(cfg):
    """True unless the run is part 4's mlp calibrating its batchnorm after training."""
    return cfg.model != "mlp" or mlp_running(cfg)


def _net(cfg, params, vocab_size):
    return nets.bound(cfg.model, params, *_sizes(cfg, vocab_size))


def split_loss(cfg, params, bnmean, bnvar, X, Y):
    """The mean loss over a whole split, evaluation mode."""
    if cfg.model == "mlp":
        return model.split_loss(params, bnmean, bnvar, X, Y, chunk=EVAL_CHUNK)
    return nets.split_loss(_net(cfg, params, len(params["0.weight"])), params, X, Y)


def probe(cfg, params, Xb, Yb):
    """One training-mode forward and backward of a batch for part 3's histograms:
    ({layer: tanh output}, {layer: its gradient}, {name: parameter gradient}).
    The mlp's one tanh layer is the lecture's h (model.forward_backward)."""
    if cfg.model == "mlp":
        acts = {}
        _, grads = model.forward_backward(params, Xb, Yb, acts)
        return {"h": acts["h"]}, {"h": acts["dh"]}, grads
    return nets.probe(_net(cfg, params, len(params["0.weight"])), Xb, Yb)


def sample(cfg, params, bnmean, bnvar, itos, *, rng, num_samples=20, max_len=50):
    """Names drawn the lecture's way from the run's network."""
    if cfg.model == "mlp":
        return model.sample(params, bnmean, bnvar, itos, cfg.block_size, rng=rng,
                            num_samples=num_samples, max_len=max_len)
    return nets.sample(_net(cfg, params, len(itos)), params, itos, cfg.block_size, rng=rng,
                       num_samples=num_samples, max_len=max_len)
