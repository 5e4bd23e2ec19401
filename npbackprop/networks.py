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

from npbackprop import batches, fast, fast_wavenet, layers, memory, model, nets
from npbackprop.config import defaults
from npbackprop.names import DEEP_LAYERS

# part 3's momentum for the single batchnorm layer's running statistics
MLP_MOMENTUM = 0.001
# the rows an evaluation forward takes at a time (model.split_loss, nets.split_loss), fewer
# when a row is wide: at most EVAL_ELEMENTS numbers live in one chunk's arrays. The mlp's
# (4096, H) temporaries are reused from malloc's pool, where (65536, H) ones were fresh
# pages each time (page faults: 3x the time measured, the same loss to 1e-8)
EVAL_ROWS = {"mlp": 4096, "wavenet": 16384, "deep": 16384}
EVAL_ELEMENTS = 2**27


def _sizes(cfg, vocab_size):
    return vocab_size, cfg.n_embd, cfg.n_hidden, cfg.block_size


def init_params(cfg, vocab_size, rng, dtype):
    """A fresh run's params, drawn from rng (the lecture's initialisation of that model)."""
    if cfg.model == "mlp":
        return model.init_params(vocab_size, cfg.n_embd, cfg.n_hidden, cfg.block_size, rng=rng,
                                 dtype=dtype)
    return nets.init_state(cfg.model, *_sizes(cfg, vocab_size), rng=rng, dtype=dtype)


def parameter_count(cfg, vocab_size):
    """How many numbers init_params makes (parameters and running statistics), unallocated."""
    V, E, H, T = _sizes(cfg, vocab_size)
    if cfg.model == "mlp":
        return V * E + T * E * H + H + H * V + V + 2 * H
    if cfg.model == "wavenet":
        stages = max(int(T).bit_length() - 1, 1)
        return V * E + 2 * E * H + (stages - 1) * 2 * H * H + stages * 4 * H + H * V + V
    return V * E + T * E * H + (DEEP_LAYERS - 1) * H * H + DEEP_LAYERS * 4 * H + H * V + 4 * V


def _hidden_rows(cfg, T):
    """Hidden (H,) rows per example: the wavenet's stages hold T/2 + T/4 + ... + 1 positions."""
    return {"mlp": 1, "wavenet": max(T - 1, 1), "deep": DEEP_LAYERS}[cfg.model]


def _eval_width(cfg, vocab_size):
    """Numbers an evaluation forward keeps per example (embcat, the hidden layers, logits)."""
    V, E, H, T = _sizes(cfg, vocab_size)
    rows = _hidden_rows(cfg, T)
    return T * E + 4 * rows * H + 4 * V


def eval_rows(cfg, vocab_size):
    """The examples an evaluation forward takes at a time: EVAL_ROWS, or fewer for wide rows
    (n_hidden 100,000 would otherwise need 26 GB an array), so its memory stays bounded."""
    return max(1, min(EVAL_ROWS[cfg.model], EVAL_ELEMENTS // _eval_width(cfg, vocab_size)))


def memory_needed(cfg, vocab_size, n_train):
    """Rough bytes a run of cfg allocates: {"parameters", "training step", "evaluation"}.

    The parameters three times (a workspace's values and gradients, and the
    initial or final copy); a step's activations and gradients per example;
    an evaluation forward over eval_rows examples (and the mlp's calibration,
    a float64 (T*E, T*E) covariance). Dimension letters as in the modules.
    """
    V, E, H, T = _sizes(cfg, vocab_size)
    size = np.dtype(cfg.dtype).itemsize
    rows = _hidden_rows(cfg, T)
    step = cfg.batch_size * (3 * T * E + 8 * rows * H + 6 * V + T * V) + V * V
    evaluation = min(eval_rows(cfg, vocab_size), n_train) * _eval_width(cfg, vocab_size) * size
    if cfg.model == "mlp":
        # fast.calibrate: float64 (T*E, T*E) sums over float64 chunks of (65536, T*E), or
        # when T*E > H the chunks' (65536, H) pre-activations
        chunk = min(65536, max(n_train, 1))
        sums = 2 * (T * E) ** 2 if T * E <= H else 2 * chunk * H
        evaluation = max(evaluation, (sums + 2 * chunk * T * E) * 8)
    return {"parameters": 3 * parameter_count(cfg, vocab_size) * size,
            "training step": step * size, "evaluation": evaluation}


def check_trainable(cfg, dataset):
    """NpbackpropError, before anything is allocated, for a training split the steps would
    not accept (batches.check_split) or a run too big for memory (check_fits_in_memory)."""
    batches.check_split(dataset.Xtr, dataset.Ytr, dataset.vocab_size, cfg.block_size)
    check_fits_in_memory(cfg, dataset.vocab_size, len(dataset.Ytr))


def check_fits_in_memory(cfg, vocab_size, n_train, *, available=None):
    """NpbackpropError, before anything is allocated, when a run of cfg cannot fit in the
    memory available (bytes, default /proc/meminfo's MemAvailable; unknown: no check)."""
    parts = memory_needed(cfg, vocab_size, n_train)
    # the flag to lower: of the sizes the biggest part grows with, the one furthest above
    # the lecture's value
    sizes = {"parameters": ("n_hidden", "n_embd", "block_size"),
             "training step": ("batch_size", "n_hidden", "n_embd", "block_size"),
             "evaluation": ("n_embd", "block_size", "n_hidden")}[max(parts, key=parts.get)]
    lecture = defaults(cfg.model)
    worst = max(sizes, key=lambda k: getattr(cfg, k) / getattr(lecture, k))
    advice = (f"lower --{worst.replace('_', '-')} ({getattr(cfg, worst):,}; the lecture's is "
              f"{getattr(lecture, worst):,})")
    detail = ", ".join(f"{k} {memory.human(v)}" for k, v in parts.items())
    memory.require(sum(parts.values()), f"the {cfg.model} with n_embd {cfg.n_embd}, n_hidden "
                   f"{cfg.n_hidden}, block_size {cfg.block_size}, batch {cfg.batch_size} "
                   f"({detail})", advice, available=available)


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
    """The mean loss over a whole split, evaluation mode, eval_rows examples at a time."""
    V = len(params["C"] if cfg.model == "mlp" else params["0.weight"])
    if cfg.model == "mlp":
        return model.split_loss(params, bnmean, bnvar, X, Y, eval_rows(cfg, V))
    return nets.split_loss(_net(cfg, params, V), params, X, Y, eval_rows(cfg, V))


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
