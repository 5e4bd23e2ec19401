"""Part 3's health checks, from the hand-written forward and backward of a run.

    rec = Recorder(every=100)                  # the trainer calls rec.record(...)
    rec.record(step, params, Xb, Yb, lr)       # at every 100th step
    rec.snapshot(params, Xb, Yb)               # at the end: activations and gradients
    arrays = rec.arrays()                      # what diagnostics.npz holds

Recorded every `every` steps: log10 of the update:data ratio of each
parameter, std(lr * grad) / std(param), as the lecture's `ud` list. At the
end, one batch's tanh activations h and their gradients dh, and the
gradient of each weight, for the histograms. A record runs the readable
model.forward_backward once, so recording every 100 steps costs about 1% of
a step; without a Recorder nothing is computed. No matplotlib here: plot.py
draws these.
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

    def record(self, step, params, Xb, Yb, lr):
        """log10 std(lr * grad) / std(param) for each parameter, at this step's batch."""
        _, grads = model.forward_backward(params, Xb, Yb)
        self.steps.append(step)
        self.ud.append([_log10_ratio(lr * grads[k], params[k]) for k in PARAM_NAMES])

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


def _log10_ratio(update, param):
    std = float(param.std())
    return float(np.log10(update.std() / std)) if std > 0 else float("nan")


def saturated_share(h):
    """The share of tanh outputs with |h| > 0.97 (part 3: too many means dead gradients)."""
    return float((np.abs(h) > SATURATED).mean())
