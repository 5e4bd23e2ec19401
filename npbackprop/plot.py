"""The lecture's pictures of a run: loss curve, dlogits, part 3's health checks.

    fig = loss_figure(run.losses, lr_decay_step=100_000, metrics=run.metrics)
    fig = dlogits_figure(dlogits, Yb)                 # plt.imshow(dlogits), targets marked
    fig = activations_figure(diag)                    # each tanh layer's h and dh
    fig = weight_gradients_figure(diag)               # each 2-D weight's gradient, grad:data
    fig = update_ratio_figure(diag)                   # log10 update:data over training
    save(fig, "out/loss.png")

Every function returns a matplotlib Figure made directly (no pyplot, no
backend switched), which a notebook shows as it is. Needs matplotlib (the
`plot` extra); require_matplotlib() says how to get it.
"""

import io

import numpy as np

from npbackprop.checkpoint import save_bytes
from npbackprop.diagnostics import SATURATED, saturated_share, tanh_layers, weights
from npbackprop.errors import NpbackpropError

INSTALL = 'pip install matplotlib (in a checkout: pip install -e ".[plot]")'


def require_matplotlib():
    """Raise NpbackpropError, naming the install command, if matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401  (the package only: no backend is chosen)
    except ImportError:
        raise NpbackpropError(f"the figures need matplotlib: {INSTALL}") from None


def _figure(*subplots, width=7.0, height=4.0):
    """A Figure (shown by notebooks as PNG) and its axes, without pyplot."""
    from matplotlib.figure import Figure

    class ShownFigure(Figure):
        def _repr_png_(self):
            buf = io.BytesIO()
            self.savefig(buf, format="png", dpi=100)
            return buf.getvalue()

    fig = ShownFigure(figsize=(width, height), layout="constrained")
    return fig, fig.subplots(*subplots) if subplots else fig.subplots()


def save(fig, path, dpi=100):
    """Write fig as a PNG at path, atomically (a planted link is not followed)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    save_bytes(path, buf.getvalue())


def smoothing_window(n):
    """A moving-average window that fits a run of n steps: about 1/50 of it, 1 to 1000."""
    return max(1, min(1000, n // 50))


def loss_figure(losses, *, lr_decay_step=None, metrics=None, evaluated="after calibration"):
    """The loss of every step (faint), its moving average, the lr decay and final losses
    (evaluated: how, for the title: part 4's calibration or the running statistics)."""
    losses = np.asarray(losses, dtype=np.float64)
    fig, ax = _figure()
    steps = np.arange(len(losses))
    ax.plot(steps, losses, color="tab:blue", alpha=0.25, lw=0.5, label="minibatch loss")
    w = smoothing_window(len(losses))
    if len(losses) >= w:
        smooth = np.convolve(losses, np.ones(w) / w, mode="valid")
        ax.plot(steps[w - 1:], smooth, color="tab:blue", lw=1.5, label=f"mean of {w} steps")
    if lr_decay_step is not None and 0 < lr_decay_step < len(losses):
        ax.axvline(lr_decay_step, color="gray", ls="--", lw=1, label=f"lr decay (step "
                   f"{lr_decay_step:,})")
    ax.set_yscale("log")
    # the loss in its own units on the log axis: 2.07 reads as 2.07
    ax.yaxis.set_major_formatter("{x:.2f}")
    ax.yaxis.set_minor_formatter("{x:.2f}")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy loss (log scale)")
    title = "training loss"
    if metrics and all(f"{s}_loss" in metrics for s in ("train", "val")):
        title += f": train {metrics['train_loss']:.4f}, val {metrics['val_loss']:.4f} " \
                 f"{evaluated}"
    ax.set_title(title)
    ax.legend(loc="upper right")
    return fig


def dlogits_figure(dlogits, Yb, itos=None):
    """The lecture's plt.imshow(dlogits): (probs - onehot) / n, the targets marked."""
    dlogits = np.asarray(dlogits, dtype=np.float64)
    fig, ax = _figure(width=8, height=6)
    lim = np.abs(dlogits).max()
    im = ax.imshow(dlogits, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
    ax.scatter(Yb, np.arange(len(Yb)), marker="x", color="black", s=18, label="target")
    fig.colorbar(im, ax=ax, label="dlogits = (softmax - onehot) / n")
    ax.set_xlabel("character" if itos is None else "character (its index in the vocabulary)")
    if itos is not None:
        ax.set_xticks(range(len(itos)), list(itos), fontsize=7)
    ax.set_ylabel("example in the batch")
    ax.set_title("dlogits of one batch: each row pulls its target up, the rest down")
    ax.legend(loc="upper right", fontsize=8)
    return fig


def _density(ax, values, label, bins=50, range=None):
    """A line of the histogram's density, as the lecture's plt.plot(hx[:-1], hy)."""
    hy, hx = np.histogram(np.ravel(values), bins=bins, range=range, density=True)
    return ax.plot((hx[1:] + hx[:-1]) / 2, hy, label=label)[0]


def activations_figure(diag):
    """Per tanh layer, the distribution of its outputs (mean, std, saturated share) and,
    below, of their gradients, as the lecture's two "visualize histograms" cells."""
    layers = tanh_layers(diag)
    fig, (a, b) = _figure(2, 1, width=10, height=7)
    for name, h, dh in layers:
        _density(a, h, f"{name} (Tanh): mean {h.mean():+.2f}, std {h.std():.2f}, "
                 f"saturated {saturated_share(h):.2%}", range=(-1, 1))
        _density(b, dh, f"{name} (Tanh): mean {dh.mean():+.1e}, std {dh.std():.2e}")
    a.set_title(f"activation distribution (saturated: |h| > {SATURATED})")
    a.set_xlabel("tanh output h")
    b.set_title("gradient distribution")
    b.set_xlabel("gradient of the tanh output, dh")
    for ax in (a, b):
        ax.set_ylabel("density")
    # the activations' density is lowest in the middle; elsewhere matplotlib picks a free spot
    a.legend(fontsize=8, loc="upper center")
    b.legend(fontsize=8, loc="best")
    return fig


def weight_gradients_figure(diag):
    """Each 2-D weight's gradient distribution, its shape, mean, std and grad:data ratio."""
    fig, ax = _figure(width=10, height=5)
    for name, g, std in weights(diag):
        _density(ax, g, f"{name} {tuple(g.shape)}: mean {g.mean():+.1e}, std {g.std():.2e}, "
                 f"grad:data {g.std() / std:.2e}")
    ax.set_xlabel("gradient value")
    ax.set_ylabel("density")
    ax.set_title("weights gradient distribution at the end of training")
    ax.legend(fontsize=8, loc="best")
    return fig


def update_ratio_figure(diag):
    """log10 std(lr * grad) / std(param) of every 2-D weight over training, 1e-3 marked."""
    fig, ax = _figure(width=10, height=5)
    steps, ud = diag["steps"], diag["ud"]
    for j, name in enumerate(diag["ud_names"]):
        if diag["ud_weight"][j]:
            ax.plot(steps, ud[:, j], lw=1, label=str(name))
    ax.axhline(-3, color="black", ls="--", lw=1, label="1e-3, the lecture's guide")
    ax.set_xlabel("step")
    ax.set_ylabel("log10 update:data ratio")
    ax.set_title(f"update:data ratio of the 2-D weights, recorded every {int(diag['every'])} "
                 f"steps (the others are in diagnostics.npz)", fontsize=10)
    ax.legend(fontsize=8, ncol=2)
    return fig


def example_batch(dataset, batch_size):
    """The batch of the dlogits picture: a fixed draw, so the figure is the same each time."""
    ix = np.random.default_rng(0).integers(0, dataset.Xtr.shape[0], batch_size)
    return dataset.Xtr[ix], dataset.Ytr[ix]


def run_figures(run, dataset=None, *, loss=True, diagnostics=False):
    """{file name: Figure} for a trained run: loss.png and dlogits.png (dlogits needs the
    dataset for its batch), and with diagnostics the three part-3 figures."""
    from npbackprop import model, networks

    figures = {}
    if loss:
        evaluated = ("with the running statistics" if networks.keeps_running(run.config)
                     else "after calibration")
        figures["loss.png"] = loss_figure(run.losses, metrics=run.metrics, evaluated=evaluated,
                                          lr_decay_step=run.config.lr_decay_step)
    # the dlogits picture comes from part 4's forward/backward (model.py)
    if loss and dataset is not None and run.config.model == "mlp":
        Xb, Yb = example_batch(dataset, run.config.batch_size)
        acts = {}
        model.forward_backward(run.params, Xb, Yb, acts)
        figures["dlogits.png"] = dlogits_figure(acts["dlogits"], Yb, run.itos)
    if diagnostics:
        if run.diagnostics is None:
            raise NpbackpropError("this run has no diagnostics: train it with --diagnostics "
                                  "(from Python: diagnostics=N) to record them")
        figures["activations.png"] = activations_figure(run.diagnostics)
        figures["weight_gradients.png"] = weight_gradients_figure(run.diagnostics)
        figures["update_ratio.png"] = update_ratio_figure(run.diagnostics)
    return figures
