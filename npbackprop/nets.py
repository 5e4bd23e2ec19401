"""The networks of parts 3 and 5, built from modules.py, trained with the hand-written backward.

    net = wavenet(27, rng=rng)                  # part 5: 76,579 parameters
    net = deep_mlp(27, rng=rng)                 # part 3: five Linear + BatchNorm1d + Tanh of 100
    loss, grads, cache = loss_and_grads(net, Xb, Yb)
    buffers = net.running_update(buffers, cache)

A run keeps the parameters and the running statistics in one dict, `state`
({"2.weight": ..., "3.running_mean": ...}): net.params names the first,
net.buffers() the second. Dimension letters: N batch, T block_size,
E n_embd, H n_hidden, V vocab_size.
"""

import numpy as np

from npbackprop import layers, model
from npbackprop.modules import BatchNorm1d, Embedding, FlattenConsecutive, Linear, Sequential, Tanh
from npbackprop.names import DEEP_LAYERS


def wavenet(vocab_size, n_embd=24, n_hidden=128, block_size=8, *, rng, dtype=np.float32):
    """Part 5's hierarchical network: pairs of neighbours merged log2(T) times.

    Embedding, then per stage FlattenConsecutive(2), Linear(bias=False),
    BatchNorm1d, Tanh; a final Linear whose weight is scaled by 0.1 ("make
    the last layer less confident"). block_size must be a power of 2.
    """
    stages = _stages(block_size)
    mods = [Embedding(vocab_size, n_embd, rng=rng, dtype=dtype)]
    fan_in = n_embd
    for _ in range(stages):
        mods += [FlattenConsecutive(2), Linear(2 * fan_in, n_hidden, bias=False, rng=rng,
                                               dtype=dtype),
                 BatchNorm1d(n_hidden, dtype=dtype), Tanh()]
        fan_in = n_hidden
    mods.append(Linear(fan_in, vocab_size, rng=rng, dtype=dtype))
    mods[-1].params["weight"] *= 0.1
    return Sequential(mods)


def deep_mlp(vocab_size, n_embd=10, n_hidden=100, block_size=3, n_layers=DEEP_LAYERS, *, rng,
             dtype=np.float32):
    """Part 3's deeper MLP: n_layers of Linear(bias=False) + BatchNorm1d + Tanh of n_hidden,
    then Linear(bias=False) + BatchNorm1d(V) whose gamma is scaled by 0.1."""
    mods = [Embedding(vocab_size, n_embd, rng=rng, dtype=dtype), FlattenConsecutive(block_size)]
    fan_in = n_embd * block_size
    for _ in range(n_layers):
        mods += [Linear(fan_in, n_hidden, bias=False, rng=rng, dtype=dtype),
                 BatchNorm1d(n_hidden, dtype=dtype), Tanh()]
        fan_in = n_hidden
    mods += [Linear(fan_in, vocab_size, bias=False, rng=rng, dtype=dtype),
             BatchNorm1d(vocab_size, dtype=dtype)]
    mods[-1].params["gamma"] *= 0.1
    return Sequential(mods)


def _stages(block_size):
    stages = int(block_size).bit_length() - 1
    if block_size < 2 or 2 ** stages != block_size:
        raise ValueError(f"the wavenet merges pairs: block_size must be a power of 2 "
                         f"from 2, got {block_size}")
    return stages


def build(name, vocab_size, n_embd, n_hidden, block_size, *, rng, dtype=np.float32):
    """The Sequential a run of model `name` ("wavenet" or "deep") trains."""
    make = {"wavenet": wavenet, "deep": deep_mlp}[name]
    return make(vocab_size, n_embd, n_hidden, block_size, rng=rng, dtype=dtype)


def loss_and_grads(net, Xb, Yb, outs=None, douts=None):
    """Training-mode forward and backward: (loss 0-d array, grads {name: array}, cache).
    outs, douts: dicts to receive each module's output and its gradient, by index."""
    logits, cache = net.train().forward(Xb, outs=outs)                 # (N, V)
    loss, ce_cache = layers.cross_entropy_forward(logits, Yb)
    dlogits, _ = layers.cross_entropy_backward(1.0, ce_cache)
    _, grads = net.backward(dlogits, cache, douts=douts)
    return loss, grads, cache


def probe(net, Xb, Yb):
    """Part 3's histograms of one batch: ({"layer i": tanh output}, {"layer i": its
    gradient}, {name: parameter gradient}), i the Tanh module's index in net."""
    outs, douts = {}, {}
    _, grads, _ = loss_and_grads(net, Xb, Yb, outs, douts)
    tanh = [i for i, m in enumerate(net.modules) if isinstance(m, Tanh)]
    return ({f"layer {i}": outs[i] for i in tanh}, {f"layer {i}": douts[i] for i in tanh},
            grads)


def sgd_step(net, state, Xb, Yb, lr, updates=None):
    """One step in place on state (params and buffers): SGD, then the running statistics.

    Returns (loss as a float, finite); if the loss or a gradient is not
    finite nothing is updated. updates: a dict to receive lr * grad of each
    parameter, the update subtracted (part 3's update:data ratio).
    """
    loss, grads, cache = loss_and_grads(net, Xb, Yb)
    finite = bool(np.isfinite(loss)) and all(np.isfinite(g).all() for g in grads.values())
    if finite:
        for k, g in grads.items():
            update = lr * g
            state[k] -= update
            if updates is not None:
                updates[k] = update
        for k, v in net.running_update(state, cache).items():
            state[k][...] = v
    return float(loss), finite


def logits_eval(net, state, X):
    """Evaluation-mode logits (M, V) with the running statistics in state."""
    logits, _ = net.eval().forward(X, state)
    net.train()
    return logits


def split_loss(net, state, X, Y, chunk=16384):
    """Mean cross-entropy over a whole split, evaluation mode, as a Python float."""
    return model.mean_loss(lambda Xc: logits_eval(net, state, Xc), X, Y, chunk)


def sample(net, state, itos, block_size, *, rng, num_samples=20, max_len=50):
    """Names drawn as the lecture does (model.sample_from), evaluation mode."""
    return model.sample_from(lambda X: logits_eval(net, state, X), itos, block_size, rng=rng,
                             num_samples=num_samples, max_len=max_len)


def count_params(net):
    return sum(p.size for p in net.params.values())


# -----------------------------------------------------------------------------
# a run's state: parameters and running statistics, for the trainer

def init_state(name, vocab_size, n_embd, n_hidden, block_size, *, rng, dtype=np.float32):
    """A fresh run's {params..., running statistics...} (names.param_shapes' names)."""
    net = build(name, vocab_size, n_embd, n_hidden, block_size, rng=rng, dtype=dtype)
    return {**net.params, **net.buffers()}


def bound(name, state, vocab_size, n_embd, n_hidden, block_size):
    """The Sequential of model `name` using state's arrays as its parameters (no copy)."""
    dtype = next(iter(state.values())).dtype
    net = build(name, vocab_size, n_embd, n_hidden, block_size,
                rng=np.random.default_rng(0), dtype=dtype)  # the draws are replaced below
    net.set_params(state)
    return net


class Workspace:
    """A run's state in one flat array (`flat`, for finiteness checks), `params` views into
    it by name, `net`, the Sequential bound to them, and `grads`, each step's lr * grad."""

    def __init__(self, name, state, vocab_size, n_embd, n_hidden, block_size):
        dtype = next(iter(state.values())).dtype
        self.flat = np.empty(sum(v.size for v in state.values()), dtype)
        self.params, offset = {}, 0
        for k, v in state.items():
            self.params[k] = self.flat[offset:offset + v.size].reshape(v.shape)
            self.params[k][...] = v
            offset += v.size
        self.net = bound(name, self.params, vocab_size, n_embd, n_hidden, block_size)
        self.grads = {}


def workspace_sgd_step(ws, Xb, Yb, lr):
    """sgd_step on a Workspace: (loss as a float, finite); ws.grads then holds lr * grad."""
    return sgd_step(ws.net, ws.params, Xb, Yb, lr, ws.grads)
