"""A trained run: what train() returns and load_run() reads back from a folder.

    run = load_run("out")                  # or run = train(Config(max_steps=5000))
    run.metrics                            # {"train_loss": ..., "val_loss": ..., ...}
    run.sample(10)                         # ten names, the lecture's way
    run.evaluate(dataset, "val")           # the loss over a whole split
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from npbackprop import checkpoint, diagnostics, networks
from npbackprop.checkpoint import DIAGNOSTICS_FILE, METRICS_FILE
from npbackprop.config import Config, config_of
from npbackprop.data import SPLITS, Dataset
from npbackprop.names import param_shapes

SAMPLE_SEED = 2147483647 + 10  # the lecture's sampling generator


@dataclass
class Run:
    """A trained model with its calibrated batchnorm statistics and its history.

    params: {C, W1, b1, W2, b2, bngain, bnbias}; bnmean, bnvar (1, H); for the
    models of parts 3 and 5 (config.model), nets.py's parameters and running
    statistics by name, and bnmean, bnvar (1, 0) (see networks.py);
    losses: the minibatch loss of every step; metrics: the losses of each
    split after calibration (empty until evaluated); itos: the vocabulary;
    diagnostics: part 3's statistics (diagnostics.Recorder.arrays()) if recorded.
    """

    config: Config
    params: dict
    bnmean: np.ndarray
    bnvar: np.ndarray
    losses: np.ndarray
    itos: tuple
    step: int
    metrics: dict = field(default_factory=dict)
    out_dir: Path | None = None
    diagnostics: dict | None = None

    def sample(self, num_samples: int = 20, *, seed: int = SAMPLE_SEED,
               max_len: int = 50) -> list[str]:
        """num_samples names drawn the lecture's way (model.sample_from) from `seed`."""
        return networks.sample(self.config, self.params, self.bnmean, self.bnvar,
                               list(self.itos), rng=np.random.default_rng(seed),
                               num_samples=num_samples, max_len=max_len)

    def evaluate(self, dataset: Dataset, split: str = "val") -> float:
        """The mean cross-entropy of this run over a whole split of dataset."""
        return networks.split_loss(self.config, self.params, self.bnmean, self.bnvar,
                                   *dataset.split(split))

    def figures(self, dataset: Dataset | None = None, *, diagnostics: bool = False) -> dict:
        """{file name: matplotlib Figure}: the loss curve, dlogits for a batch of dataset,
        and with diagnostics part 3's figures (a notebook shows each as it is)."""
        from npbackprop import plot
        plot.require_matplotlib()
        return plot.run_figures(self, dataset, diagnostics=diagnostics)


def evaluate(run: Run, dataset: Dataset, splits=SPLITS) -> dict:
    """{"train_loss": ..., ...} of a run over each split (its own statistics)."""
    return {f"{s}_loss": run.evaluate(dataset, s) for s in splits}


def finite_metrics(metrics: dict) -> bool:
    """True if every loss in metrics is a finite number."""
    return all(math.isfinite(v) for k, v in metrics.items() if k.endswith("_loss"))


def load_run(out_dir) -> Run:
    """The run in out_dir, as its checkpoint holds it (checked against its config).

    metrics comes from metrics.json when the run finished and wrote it.
    Raises NpbackpropError, one line, for a missing or unusable run.
    """
    arrays, saved = checkpoint.read_checkpoint(out_dir)
    metrics = {}
    if (Path(out_dir) / METRICS_FILE).is_file():
        loaded = checkpoint.load_json(Path(out_dir) / METRICS_FILE)
        if isinstance(loaded, dict) and loaded.get("step") == int(arrays["step"]):
            metrics = loaded
    diag = None
    if (Path(out_dir) / DIAGNOSTICS_FILE).is_file() and metrics:
        diag = diagnostics.upgrade(checkpoint.load_npz(Path(out_dir) / DIAGNOSTICS_FILE))
    return Run(config_of(saved), {k: arrays[k] for k in param_shapes(saved)}, arrays["bnmean"],
               arrays["bnvar"], arrays["losses"], tuple(saved["vocab"]), int(arrays["step"]),
               metrics, Path(out_dir), diag)


def saved_config(out_dir) -> dict:
    """The run config stored in out_dir's checkpoint (checked)."""
    return checkpoint.read_checkpoint(out_dir)[1]
