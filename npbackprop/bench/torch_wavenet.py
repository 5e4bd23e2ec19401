"""Eager PyTorch on parts 5 and 3's networks, for the benchmark only (it imports torch).

    step = autograd(net, state, batches)    # net: a nets.py Sequential, state: its arrays
    step(i, lr)                             # one SGD step on batches[i], running stats too

The lecture's training loop, op for op: the modules' forward in torch
(part 5's FlattenConsecutive, Linear, BatchNorm1d over dims (0, 1) with the
unbiased x.var and the momentum update under no_grad, Tanh),
F.cross_entropy, loss.backward(), p.data += -lr * p.grad, in float32.
Only npbackprop.bench.wavenet imports this module, and only when torch is there.
"""

import torch
import torch.nn.functional as F

from npbackprop.bench.torch_variants import info, set_threads  # noqa: F401
from npbackprop.modules import BatchNorm1d, Embedding, FlattenConsecutive, Linear, Tanh


def autograd(net, state, batches):
    """A step of eager torch autograd on net's modules, from copies of state's arrays."""
    t = {k: torch.tensor(v, dtype=torch.float32) for k, v in state.items()}
    params = [t[k].requires_grad_(True) for k in net.params]
    bs = [(torch.from_numpy(Xb).long(), torch.from_numpy(Yb).long()) for Xb, Yb in batches]
    kinds = [type(m) for m in net.modules]
    ks = [getattr(m, "k", None) for m in net.modules]
    momentum = [getattr(m, "momentum", None) for m in net.modules]

    def forward(x):
        for i, kind in enumerate(kinds):
            if kind is Embedding:
                x = t[f"{i}.weight"][x]
            elif kind is FlattenConsecutive:
                B, T, C = x.shape
                x = x.view(B, T // ks[i], C * ks[i])
                x = x.squeeze(1) if x.shape[1] == 1 else x
            elif kind is Linear:
                x = x @ t[f"{i}.weight"]
                x = x + t[f"{i}.bias"] if f"{i}.bias" in t else x
            elif kind is BatchNorm1d:
                dim = 0 if x.ndim == 2 else (0, 1)
                xmean, xvar = x.mean(dim, keepdim=True), x.var(dim, keepdim=True)
                x = t[f"{i}.gamma"] * (x - xmean) / torch.sqrt(xvar + 1e-5) + t[f"{i}.beta"]
                with torch.no_grad():
                    m = momentum[i]
                    rm, rv = t[f"{i}.running_mean"], t[f"{i}.running_var"]
                    rm.copy_((1 - m) * rm + m * xmean.reshape(-1))
                    rv.copy_((1 - m) * rv + m * xvar.reshape(-1))
            elif kind is Tanh:
                x = torch.tanh(x)
        return x

    def step(i, lr):
        Xb, Yb = bs[i]
        loss = F.cross_entropy(forward(Xb), Yb)
        for p in params:
            p.grad = None
        loss.backward()
        for p in params:
            p.data += -lr * p.grad
        return loss.item()
    return step
