"""Part 3's health checks, from the hand-written forward and backward of a run.

    rec = Recorder(every=100)                  # the trainer calls rec.record(...)
    rec.record(step, params, updates)          # after every 100th step
    rec.snapshot(acts, dacts, grads, params)   # at the end: networks.probe of one batch
    arrays = rec.arrays()                      # what diagnostics.npz holds

Recorded every `every` steps: log10 of the update:data ratio of each
parameter, std(lr * grad) / std(param), as the lecture's `ud` list. At the
end, one batch's output of every tanh layer and its gradient, and the
gradient of each 2-D weight, for the histograms. The layers are found by
name, so the same code serves every network: the mlp's one tanh layer is
"h", the deep MLP's and the wavenet's are "layer i" (the Tanh module's
index). A record reuses the update the step has just applied (nothing
recomputed); without a Recorder nothing is computed at all. No matplotlib
here: plot.py draws these.
"""

import numpy as np

from npbackprop import checkpoint
from npbackprop.config import ConfigError

SATURATED = 0.97  # the lecture's threshold: |h| above it is a saturated tanh


class Recorder:
    """Statistics of a training run, gathered at intervals; plain arrays, no state hidden."""

    def __init__(self, every=100):
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ConfigError("diagnostics", f"must be a whole number of steps, at least 1, "
                              f"got {every!r}")
        self.every = every
        self.steps, self.ud, self.names, self.is_weight = [], [], [], []
        self.final = {}

    def record(self, step, params, updates):
        """After a step, as the lecture's `ud`: log10 std(update) / std(param) of each
        updated parameter, where update = lr * grad is what the step subtracted and
        param its value after the step."""
        if not self.names:
            self.names = list(updates)
            self.is_weight = [is_weight(params[k].shape) for k in updates]
        self.steps.append(step)
        self.ud.append([_log10_ratio(_std(updates[k]), _std(params[k])) for k in self.names])

    def resume_from(self, saved, step):
        """Continue the records of a run resumed at `step`: `saved` is the diagnostics.npz
        its checkpoints wrote (records of steps before `step` are kept; a checkpoint is
        written after the records of the steps it holds)."""
        keep = saved["steps"] < step
        self.steps = saved["steps"][keep].tolist()
        self.ud = saved["ud"][keep].tolist()
        self.names = [str(k) for k in saved["ud_names"]]
        self.is_weight = [bool(w) for w in saved["ud_weight"]]
        return self

    def snapshot(self, acts, dacts, grads, params):
        """The end of training, from networks.probe: each tanh layer's output and its
        gradient ({layer: array}), and the gradient of each 2-D weight."""
        weights = [k for k, g in grads.items() if is_weight(g.shape)]
        self.final = {"tanh_names": np.asarray(list(acts)),
                      "weight_names": np.asarray(weights),
                      "data_std": np.asarray([_std(params[k]) for k in weights], np.float64)}
        for j, k in enumerate(acts):
            self.final[f"h_{j}"], self.final[f"dh_{j}"] = acts[k], dacts[k]
        for j, k in enumerate(weights):
            self.final[f"grad_{j}"] = grads[k]

    def arrays(self):
        """Everything recorded, as arrays for an .npz (before the end of training, the
        records alone: what a checkpoint keeps)."""
        return {"steps": np.asarray(self.steps, np.int64),
                "ud": np.asarray(self.ud, np.float64).reshape(-1, len(self.names)),
                "ud_names": np.asarray(self.names, dtype=str),
                "ud_weight": np.asarray(self.is_weight, bool), "every": np.int64(self.every),
                **{k: v if v.dtype.kind == "U" else np.asarray(v, np.float64)
                   for k, v in self.final.items()}}


def resumed(path, step, recorder=None):
    """On resume, a run that recorded diagnostics (its checkpoints' records at `path`) goes
    on recording them, at its own interval unless a Recorder is given, earlier records
    kept: nothing is lost to an interruption, and resuming continues the run as started."""
    if not path.is_file():
        return recorder
    saved = checkpoint.load_npz(path, required=("steps", "ud", "ud_names", "ud_weight",
                                                "every"))
    return (recorder or Recorder(every=int(saved["every"]))).resume_from(saved, step)


def is_weight(shape):
    """A 2-D weight, whose histograms the lecture draws (p.ndim == 2); the mlp's (1, H)
    bngain and bnbias are vectors kept as rows, not weights."""
    return len(shape) == 2 and min(shape) > 1


def tanh_layers(diag):
    """[(name, h, dh)] of each tanh layer in a run's diagnostics, in forward order."""
    return [(str(name), diag[f"h_{j}"], diag[f"dh_{j}"])
            for j, name in enumerate(diag["tanh_names"])]


def weights(diag):
    """[(name, grad, std of the weight)] of each 2-D weight in a run's diagnostics."""
    return [(str(name), diag[f"grad_{j}"], float(diag["data_std"][j]))
            for j, name in enumerate(diag["weight_names"])]


def upgrade(diag):
    """A diagnostics.npz written before the layers were found by name (the mlp's: h, dh,
    grad_C, ...) in today's layout; today's is returned as it is."""
    if "tanh_names" in diag:
        return diag
    old = ("C", "W1", "W2")
    return {**{k: diag[k] for k in ("steps", "ud", "ud_names", "every")},
            "ud_weight": np.asarray([str(k) in old for k in diag["ud_names"]]),
            "tanh_names": np.asarray(["h"]), "h_0": diag["h"], "dh_0": diag["dh"],
            "weight_names": np.asarray(old),
            "data_std": np.asarray([diag[f"data_std_{k}"] for k in old], np.float64),
            **{f"grad_{j}": diag[f"grad_{k}"] for j, k in enumerate(old)}}


def _std(x):
    """x.std(), in float64 with two dot products: a few microseconds for the small
    arrays of these networks, where numpy's std takes tens."""
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


def summary(diag):
    """The lines the lecture prints beside its histograms, for a run's diagnostics."""
    lines = [f"{name} (Tanh): mean {h.mean():+.2f}, std {h.std():.2f}, saturated "
             f"{100 * saturated_share(h):.2f}%" for name, h, _ in tanh_layers(diag)]
    lines += [f"{name} (Tanh): gradient mean {dh.mean():+f}, std {dh.std():e}"
              for name, _, dh in tanh_layers(diag)]
    lines += [f"weight {name} {tuple(g.shape)}: mean {g.mean():+f}, std {g.std():e}, "
              f"grad:data ratio {g.std() / std:e}" for name, g, std in weights(diag)]
    return lines
