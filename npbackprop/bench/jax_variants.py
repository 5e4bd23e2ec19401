"""JAX versions of the lecture's training step, compiled, for the benchmarks only.

Only npbackprop.bench.compare imports this module, and only when jax is
installed (pip install "npbackprop[jax]"): nothing else in npbackprop imports jax.

    step = jit_step(params)                 # params: numpy dict; one jitted SGD step
    loss = step(Xb, Yb, lr)
    run = scan_steps(params)                # K steps in one call: jit + lax.scan
    losses = run(Xc, Yc, lr)                # Xc (K, N, T), Yc (K, N): K losses

The network is the lecture's exercise 4 (embedding, linear, Bessel-corrected
batchnorm, tanh, linear, cross-entropy) in float32, its gradients from
jax.grad. XLA is asked for one CPU thread unless XLA_FLAGS is already set.
"""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false "
                      "intra_op_parallelism_threads=1")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from npbackprop.names import PARAM_NAMES  # noqa: E402


def _loss(params, Xb, Yb):
    C, W1, b1, W2, b2, bngain, bnbias = params
    n = Xb.shape[0]
    embcat = C[Xb].reshape(n, -1)                                   # (N, T*E)
    hprebn = embcat @ W1 + b1                                       # (N, H)
    bnmeani = hprebn.mean(0, keepdims=True)
    bnvar = ((hprebn - bnmeani) ** 2).sum(0, keepdims=True) / (n - 1)
    hpreact = bngain * (hprebn - bnmeani) * jax.lax.rsqrt(bnvar + 1e-5) + bnbias
    logits = jnp.tanh(hpreact) @ W2 + b2                            # (N, V)
    logprobs = jax.nn.log_softmax(logits, axis=1)
    return -logprobs[jnp.arange(n), Yb].mean()


def _sgd(params, Xb, Yb, lr):
    loss, grads = jax.value_and_grad(_loss)(params, Xb, Yb)
    return tuple(p - lr * g for p, g in zip(params, grads)), loss


def _device_params(params):
    return tuple(jnp.asarray(params[k], dtype=jnp.float32) for k in PARAM_NAMES)


def jit_step(params):
    """One jitted SGD step a call, the parameters kept on the device between calls."""
    state = {"p": _device_params(params)}
    sgd = jax.jit(_sgd, donate_argnums=0)

    def step(Xb, Yb, lr):
        state["p"], loss = sgd(state["p"], Xb, Yb, lr)
        return float(loss)
    return step


def scan_steps(params):
    """K SGD steps a call, one jitted lax.scan over a chunk's stacked minibatches."""
    state = {"p": _device_params(params)}

    @jax.jit
    def run(p, Xc, Yc, lr):
        return jax.lax.scan(lambda p, b: _sgd(p, b[0], b[1], lr), p, (Xc, Yc))

    def steps(Xc, Yc, lr):
        state["p"], losses = run(state["p"], Xc, Yc, lr)
        return losses.block_until_ready()
    steps.params = lambda: {k: jax.device_get(v) for k, v in zip(PARAM_NAMES, state["p"])}
    return steps


def info():
    """jax's version, backend and XLA flags, for the benchmark header."""
    return {"jax": jax.__version__, "jax_backend": jax.default_backend(),
            "xla_flags": os.environ.get("XLA_FLAGS", "")}
