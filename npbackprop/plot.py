"""Figures of a run (needs matplotlib, the `plot` extra)."""

import numpy as np


def plot_losses(losses, path, chunk=1000):
    """The lecture's loss curve: log10 of the loss, averaged over chunks of steps.

    Needs matplotlib (the `plot` extra); raises ImportError without it.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    log10 = np.log10(np.asarray(losses, dtype=np.float64))
    chunk = max(1, min(chunk, len(log10)))
    curve = log10[: len(log10) // chunk * chunk].reshape(-1, chunk).mean(1)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(np.arange(len(curve)) * chunk, curve)
    ax.set_xlabel("step")
    ax.set_ylabel(f"log10 loss (mean of {chunk} steps)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
