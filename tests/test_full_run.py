"""The main job: the lecture's exercise 4 with every default, end to end.

About half a minute on a 2-core laptop CPU. It runs the installed command
exactly as README.md shows it and checks the lecture's loss band after
batchnorm calibration (the lecture's run: train 2.0705, val 2.1099).
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_default_training_reaches_the_lectures_losses(tmp_path, real_names_file):
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NPBACKPROP_DATA": str(real_names_file)}
    p = subprocess.run([sys.executable, "-m", "npbackprop", "train", "-o", str(out)], env=env,
                       capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    print(json.dumps(metrics))
    assert metrics["step"] == 200_000
    assert metrics["split_sizes"] == {"train": 182625, "val": 22655, "test": 22866}
    assert metrics["train_loss"] <= 2.08
    assert metrics["val_loss"] <= 2.12
    assert metrics["test_loss"] <= 2.13
    # progress in the lecture's format, every 10,000 steps
    assert " 190000/ 200000:" in p.stdout
    assert np.load(out / "model.npz")["losses"].shape == (200_000,)
    # 20 sampled names end the output, after the losses line: letters only, not all alike
    lines = p.stdout.strip().splitlines()
    assert lines[-21].startswith("after calibration: train ")
    samples = lines[-20:]
    assert all(re.fullmatch(r"[a-z]+", name) for name in samples), samples
    assert len(set(samples)) >= 15
