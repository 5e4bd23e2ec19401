"""PyTorch versions of the lecture's training step, eager and torch.compile, for benchmarks only.

Only the benchmark harness imports this module (harness.load_torch_variants),
and only when torch is installed: nothing else in npbackprop imports torch.
Each variant is a factory

    step = VARIANTS[name](params, batches)   # params: numpy dict, batches: [(Xb, Yb)]
    step(i, lr)                              # one SGD step on batches[i]

and runs the lecture's exercise-4 network (embedding, linear, Bessel-corrected
batchnorm, tanh, linear, cross-entropy) in float32, as the lecture does.
"""

import re
import time

import torch
import torch.nn.functional as F

from npbackprop.names import PARAM_NAMES


def _tensors(params, batches, requires_grad):
    ps = [torch.tensor(params[k], dtype=torch.float32, requires_grad=requires_grad)
          for k in PARAM_NAMES]
    bs = [(torch.from_numpy(Xb).long(), torch.from_numpy(Yb).long()) for Xb, Yb in batches]
    return ps, bs


def _forward(C, W1, b1, W2, b2, bngain, bnbias, Xb):
    """The lecture's exercise-4 forward pass; returns every tensor backward needs."""
    emb = C[Xb]
    embcat = emb.view(emb.shape[0], -1)
    hprebn = embcat @ W1 + b1
    bnmean = hprebn.mean(0, keepdim=True)
    bnvar = hprebn.var(0, keepdim=True, unbiased=True)
    bnvar_inv = (bnvar + 1e-5) ** -0.5
    bnraw = (hprebn - bnmean) * bnvar_inv
    hpreact = bngain * bnraw + bnbias
    h = torch.tanh(hpreact)
    logits = h @ W2 + b2
    return emb, embcat, bnvar_inv, bnraw, h, logits


def autograd(params, batches):
    """Eager torch: the forward above, F.cross_entropy, loss.backward()."""
    parameters, bs = _tensors(params, batches, requires_grad=True)

    def step(i, lr):
        Xb, Yb = bs[i]
        logits = _forward(*parameters, Xb)[-1]
        loss = F.cross_entropy(logits, Yb)
        for p in parameters:
            p.grad = None
        loss.backward()
        for p in parameters:
            p.data += -lr * p.grad
        return loss.item()
    return step


def autograd_stream(params):
    """Eager torch autograd as step(Xb, Yb, lr) on numpy batches, for a stream of them."""
    parameters, _ = _tensors(params, [], requires_grad=True)

    def step(Xb, Yb, lr):
        logits = _forward(*parameters, torch.from_numpy(Xb))[-1]
        loss = F.cross_entropy(logits, torch.from_numpy(Yb))
        for p in parameters:
            p.grad = None
        loss.backward()
        with torch.no_grad():
            for p in parameters:
                p -= lr * p.grad
        return loss.item()
    return step


def _functional_sgd(params, Xb, Yb, lr):
    """One SGD step as a pure function: (new params, loss), gradients from torch.func."""
    def loss_of(ps):
        return F.cross_entropy(_forward(*ps, Xb)[-1], Yb)
    grads, loss = torch.func.grad_and_value(loss_of)(params)
    return tuple(p - lr * g for p, g in zip(params, grads)), loss


def compiled_stream(params, Xb, Yb):
    """torch.compile of the functional step, as step(Xb, Yb, lr) on numpy batches.

    Compiled here, by one call on (Xb, Yb) with a copy of the parameters that
    is thrown away, so the returned step starts from `params` untouched;
    step.compile_seconds is that first call's time. lr goes in as a 0-d
    tensor, so a new learning rate does not recompile. Raises whatever
    torch.compile raises (no compiler, an unsupported op): the caller says why.
    """
    state = {"p": tuple(torch.tensor(params[k], dtype=torch.float32) for k in PARAM_NAMES)}
    sgd = torch.compile(_functional_sgd)
    t0 = time.perf_counter()
    copy = tuple(p.clone() for p in state["p"])
    sgd(copy, torch.from_numpy(Xb), torch.from_numpy(Yb), torch.tensor(0.0))[1].item()
    seconds = time.perf_counter() - t0

    def step(Xb, Yb, lr):
        state["p"], loss = sgd(state["p"], torch.from_numpy(Xb), torch.from_numpy(Yb),
                               torch.tensor(lr, dtype=torch.float32))
        return loss.item()
    step.compile_seconds = seconds
    return step


def _manual(params, batches, scatter):
    """The lecture's exercise-4 loop body under torch.no_grad(); scatter makes dC."""
    parameters, bs = _tensors(params, batches, requires_grad=True)
    C, W1, b1, W2, b2, bngain, bnbias = parameters

    @torch.no_grad()
    def step(i, lr):
        Xb, Yb = bs[i]
        n = Xb.shape[0]
        emb, embcat, bnvar_inv, bnraw, h, logits = _forward(*parameters, Xb)
        loss = F.cross_entropy(logits, Yb)
        dlogits = F.softmax(logits, 1)
        dlogits[range(n), Yb] -= 1
        dlogits /= n
        dh = dlogits @ W2.T
        dW2 = h.T @ dlogits
        db2 = dlogits.sum(0)
        dhpreact = (1.0 - h ** 2) * dh
        dbngain = (bnraw * dhpreact).sum(0, keepdim=True)
        dbnbias = dhpreact.sum(0, keepdim=True)
        dhprebn = bngain * bnvar_inv / n * (n * dhpreact - dhpreact.sum(0)
                                            - n / (n - 1) * bnraw * (dhpreact * bnraw).sum(0))
        dembcat = dhprebn @ W1.T
        dW1 = embcat.T @ dhprebn
        db1 = dhprebn.sum(0)
        demb = dembcat.view(emb.shape)
        dC = scatter(C, Xb, demb)
        grads = [dC, dW1, db1, dW2, db2, dbngain, dbnbias]
        for p, grad in zip(parameters, grads):
            p.data += -lr * grad
        return loss.item()
    return step


def _loop_scatter(C, Xb, demb):
    # the lecture's own double loop over the batch and the context
    dC = torch.zeros_like(C)
    for k in range(Xb.shape[0]):
        for j in range(Xb.shape[1]):
            ix = Xb[k, j]
            dC[ix] += demb[k, j]
    return dC


def _index_add_scatter(C, Xb, demb):
    return torch.zeros_like(C).index_add_(0, Xb.view(-1), demb.view(-1, C.shape[1]))


def lecture_loop(params, batches):
    """The lecture's manual backward, its Python double loop making dC."""
    return _manual(params, batches, _loop_scatter)


def manual_index_add(params, batches):
    """The lecture's manual backward with dC from one index_add_."""
    return _manual(params, batches, _index_add_scatter)


VARIANTS = {
    "torch autograd": autograd,
    "torch lecture loop": lecture_loop,
    "torch manual index_add_": manual_index_add,
}


def set_threads(n):
    """Pin torch's intra-op threads (the BLAS and elementwise pool)."""
    torch.set_num_threads(n)


def info():
    """torch's version, thread count and BLAS, for the benchmark header."""
    blas = re.search(r"BLAS_INFO=(\w+)", torch.__config__.show())
    return {"torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "torch_blas": blas.group(1) if blas else "unknown"}
