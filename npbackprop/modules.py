"""Parts 3 and 5's modules, thin wrappers over the pure pairs of layers.py.

    net = Sequential([Embedding(27, 24, rng=rng), FlattenConsecutive(2), ...])
    logits, cache = net.forward(Xb)                 # training mode: batch statistics
    dx, grads = net.backward(dlogits, cache)        # {"2.weight": ..., "3.gamma": ...}
    buffers = net.running_update(buffers, cache)    # new running statistics, returned
    logits, _ = net.eval().forward(X, buffers)      # evaluation mode: running statistics

A module's parameters are a dict (`m.params`), its forward returns
(out, cache) and its backward (dx, grads) with grads keyed like params; the
cache is returned, never kept on the module. Running statistics are never
module state either: `buffers()` gives their initial values, forward takes
them in evaluation mode, running_update returns the new ones.
"""

import numpy as np

from npbackprop import layers


class Embedding:
    """weight (V, E), drawn standard normal as the lecture's C."""

    def __init__(self, num_embeddings, embedding_dim, *, rng, dtype=np.float32):
        self.params = {"weight": rng.standard_normal((num_embeddings, embedding_dim))
                       .astype(dtype)}

    def forward(self, ix, buffers=None):
        return layers.embedding_forward(ix, self.params["weight"])

    def backward(self, dout, cache):
        _, dweight = layers.embedding_backward(dout, cache)
        return None, {"weight": dweight}

    def __repr__(self):
        return "Embedding({}, {})".format(*self.params["weight"].shape)


class FlattenConsecutive:
    """(N, T, E) -> (N, T/k, k*E), squeezed to (N, k*E) when T/k == 1."""

    def __init__(self, k):
        self.k, self.params = k, {}

    def forward(self, x, buffers=None):
        return layers.flatten_consecutive_forward(x, self.k)

    def backward(self, dout, cache):
        return layers.flatten_consecutive_backward(dout, cache)[0], {}

    def __repr__(self):
        return f"FlattenConsecutive({self.k})"


class Linear:
    """weight (D, M) drawn as randn / sqrt(D) (the lecture's kaiming init), bias zeros or none."""

    def __init__(self, fan_in, fan_out, bias=True, *, rng, dtype=np.float32):
        self.params = {"weight": (rng.standard_normal((fan_in, fan_out)) / fan_in ** 0.5)
                       .astype(dtype)}
        if bias:
            self.params["bias"] = np.zeros(fan_out, dtype)

    def forward(self, x, buffers=None):
        return layers.linear_forward(x, self.params["weight"], self.params.get("bias"))

    def backward(self, dout, cache):
        dx, dweight, dbias = layers.linear_backward(dout, cache)
        return dx, {"weight": dweight, **({} if dbias is None else {"bias": dbias})}

    def __repr__(self):
        fan_in, fan_out = self.params["weight"].shape
        return f"Linear({fan_in}, {fan_out}, bias={'bias' in self.params})"


class BatchNorm1d:
    """gamma ones, beta zeros (H,); over axis 0 of (N, H) or axes (0, 1) of (N, T, H).

    Training (no buffers given): batch statistics, reported in the cache for
    running_update. Evaluation: the buffers {running_mean, running_var} given.
    """

    def __init__(self, dim, eps=layers.BN_EPS, momentum=0.1, *, dtype=np.float32):
        self.eps, self.momentum = eps, momentum
        self.params = {"gamma": np.ones(dim, dtype), "beta": np.zeros(dim, dtype)}

    def buffers(self):
        """The running statistics' starting values: mean zeros, variance ones."""
        dim, dtype = self.params["gamma"].shape, self.params["gamma"].dtype
        return {"running_mean": np.zeros(dim, dtype), "running_var": np.ones(dim, dtype)}

    def forward(self, x, buffers=None):
        g, b = self.params["gamma"], self.params["beta"]
        if buffers is None:
            axes = tuple(range(x.ndim - 1))  # (0,) or (0, 1), as the lecture picks by x.ndim
            out, cache = layers.batchnorm_forward(x, g, b, self.eps, axes)
            return out, ("train", cache)
        out, cache = layers.batchnorm_eval_forward(x, g, b, buffers["running_mean"],
                                                   buffers["running_var"], self.eps)
        return out, ("eval", cache)

    def backward(self, dout, cache):
        mode, cache = cache
        backward = layers.batchnorm_backward if mode == "train" else layers.batchnorm_eval_backward
        dx, dgamma, dbeta = backward(dout, cache)[:3]
        return dx, {"gamma": dgamma, "beta": dbeta}

    def running_update(self, buffers, cache):
        """New {running_mean, running_var} from a training-mode forward's cache."""
        mode, (*_, batch_mean, batch_var) = cache
        if mode != "train":
            raise ValueError("running_update needs a training-mode forward's cache")
        mean, var = layers.running_update(buffers["running_mean"], buffers["running_var"],
                                          batch_mean, batch_var, self.momentum)
        return {"running_mean": mean, "running_var": var}

    def __repr__(self):
        dim = self.params["gamma"].shape[0]
        return f"BatchNorm1d({dim}, eps={self.eps}, momentum={self.momentum})"


class Tanh:
    def __init__(self):
        self.params = {}

    def forward(self, x, buffers=None):
        return layers.tanh_forward(x)

    def backward(self, dout, cache):
        return layers.tanh_backward(dout, cache)[0], {}

    def __repr__(self):
        return "Tanh()"


class Sequential:
    """Modules in a chain; parameters and buffers named "<index>.<name>", e.g. "2.weight"."""

    def __init__(self, modules):
        self.modules, self.training = list(modules), True

    def __repr__(self):
        """One module a line with its index, the prefix of its parameters' names."""
        lines = [f"  ({i}): {m!r}" for i, m in enumerate(self.modules)]
        return "\n".join([f"Sequential({'train' if self.training else 'eval'} mode,"] + lines
                          + [")"])

    def train(self):
        self.training = True
        return self

    def eval(self):
        self.training = False
        return self

    @property
    def params(self):
        """{"i.name": array}: the modules' own arrays, so params[k] -= ... updates them."""
        return {f"{i}.{k}": v for i, m in enumerate(self.modules) for k, v in m.params.items()}

    def set_params(self, params):
        """Use the given arrays (named as params) as the modules' parameters, without copying."""
        for name, old in self.params.items():
            new = params[name]
            if new.shape != old.shape or new.dtype != old.dtype:
                raise ValueError(f"{name} must be {old.dtype} {old.shape}, got "
                                 f"{new.dtype} {new.shape}")
            i, k = name.split(".", 1)
            self.modules[int(i)].params[k] = new

    def buffers(self):
        """The running statistics' starting values, named like params ("3.running_mean")."""
        return {f"{i}.{k}": v for i, m in enumerate(self.modules) if hasattr(m, "buffers")
                for k, v in m.buffers().items()}

    def _own(self, buffers, i):
        prefix = f"{i}."
        return {k[len(prefix):]: v for k, v in buffers.items() if k.startswith(prefix)}

    def forward(self, x, buffers=None, outs=None):
        """Training mode: batch statistics (buffers unused). Eval mode: buffers required.

        Returns (out, cache); cache is the list of the modules' caches. outs: a
        dict to receive each module's output by index (part 3's histograms).
        """
        if not self.training and buffers is None:
            raise ValueError("an eval-mode forward needs the running statistics (buffers)")
        caches = []
        for i, m in enumerate(self.modules):
            own = None if self.training or not hasattr(m, "buffers") else self._own(buffers, i)
            x, cache = m.forward(x, own)
            caches.append(cache)
            if outs is not None:
                outs[i] = x
        return x, caches

    def backward(self, dout, cache, douts=None):
        """Returns (dx, grads): dx None for integer input, grads keyed like params.
        douts: a dict to receive the gradient of each module's output by index."""
        grads = {}
        for i in reversed(range(len(self.modules))):
            if douts is not None:
                douts[i] = dout
            dout, g = self.modules[i].backward(dout, cache[i])
            grads.update({f"{i}.{k}": v for k, v in g.items()})
        return dout, {k: grads[k] for k in self.params}

    def running_update(self, buffers, cache):
        """New buffers from a training-mode forward's cache; `buffers` is not modified."""
        new = {}
        for i, m in enumerate(self.modules):
            if hasattr(m, "running_update"):
                new.update({f"{i}.{k}": v for k, v in
                            m.running_update(self._own(buffers, i), cache[i]).items()})
        return new
