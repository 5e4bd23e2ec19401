"""Part 3's health checks, from the hand-written forward and backward of a run.

    rec = Recorder(every=100)                  # the trainer calls rec.record(...)
    rec.record(step, params, updates)          # after every 100th step
    rec.snapshot(params, Xb, Yb)               # at the end: activations and gradients
    arrays = rec.arrays()                      # what diagnostics.npz holds

Recorded every `every` steps: log10 of the update:data ratio of each
parameter, std(lr * grad) / std(param), as the lecture's `ud` list. At the
end, one batch's tanh activations h and their gradients dh, and the
gradient of each weight, for the histograms, from the readable
model.forward_backward. A record reuses the update the step has just
applied (seven standard deviations, nothing recomputed); without a Recorder
nothing is computed at all. No matplotlib here: plot.py draws these.
"""

import numpy as np

from npbackprop import model
from npbackprop.config import ConfigError
from npbackprop.names import PARAM_NAMES

SATURATED = 0.97           # the lecture's threshold: |h| above it is a saturated tanh
WEIGHTS = ("C", "W1", "W2")  # the 2-D parameters, whose histograms the lecture draws


class Recorder:
    """Statistics of a training run, gathered at intervals; plain arrays, no state hidden."""

    def __init__(self, every=100):
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ConfigError("diagnostics", f"must be a whole number of steps, at least 1, "
                              f"got {every!r}")
        self.every = every
        self.steps, self.ud = [], []
        self.final = {}

    def record(self, step, params, updates):
        """After a step, as the lecture's `ud`: log10 std(update) / std(param) of each
        updated parameter, where update = lr * grad is what the step subtracted."""
        self.steps.append(step)
        self.ud.append([_log10_ratio(_std(updates[k]), _std(params[k])) for k in PARAM_NAMES])

    def snapshot(self, params, Xb, Yb):
        """The end of training: one batch's h, dh and weight gradients."""
        acts = {}
        _, grads = model.forward_backward(params, Xb, Yb, acts)
        self.final = {"h": acts["h"], "dh": acts["dh"],
                      **{f"grad_{k}": grads[k] for k in WEIGHTS},
                      **{f"data_std_{k}": np.float64(params[k].std()) for k in WEIGHTS}}

    def arrays(self):
        """Everything recorded, as arrays for an .npz."""
        return {"steps": np.asarray(self.steps, np.int64),
                "ud": np.asarray(self.ud, np.float64).reshape(-1, len(PARAM_NAMES)),
                "ud_names": np.asarray(PARAM_NAMES), "every": np.int64(self.every),
                **{k: np.asarray(v, np.float64) for k, v in self.final.items()}}


def _std(x):
    """x.std(), in float64 with two dot products: a few microseconds for the small
    arrays of this network, where numpy's std takes tens."""
    v = np.asarray(x, np.float64).ravel()
    mean = v.sum() / v.size
    return float(np.sqrt(max(v @ v / v.size - mean * mean, 0.0)))


def _log10_ratio(update_std, param_std):
    if param_std == 0:
        return float("nan")  # a parameter of all one value has no scale to compare with
    return float(np.log10(update_std / param_std)) if update_std > 0 else float("-inf")


def saturated_share(h):
    """The share of tanh outputs with |h| > 0.97 (part 3: too many means dead gradients)."""
    return float((np.abs(h) > SATURATED).mean())
