"""The part-5 benchmark: torch's step is the same step, the table is well formed."""

import numpy as np
import pytest

from npbackprop import data, nets
from npbackprop.bench import wavenet


@pytest.fixture(scope="module")
def dataset8(real_names_file):
    return data.load_dataset(real_names_file, block_size=8)


def test_torch_autograd_takes_the_same_steps(dataset8):
    tw, why = wavenet._load_torch()
    if tw is None:
        pytest.skip(why)
    state = nets.init_state("wavenet", 27, 24, 128, 8, rng=np.random.default_rng(0),
                            dtype=np.float32)
    batches = [(dataset8.Xtr[i:i + 32], dataset8.Ytr[i:i + 32]) for i in range(0, 96, 32)]
    ws = nets.Workspace("wavenet", state, 27, 24, 128, 8)
    step = tw.autograd(ws.net, state, batches)
    for i in range(3):
        ours, _ = nets.workspace_sgd_step(ws, *batches[i], 0.1)
        assert step(i, 0.1) == pytest.approx(ours, rel=1e-5)
    # and the two runs' losses would part if one of them skipped the running statistics
    assert not np.allclose(ws.params["3.running_mean"], state["3.running_mean"])


def test_bench_wavenet_table(dataset8):
    r = wavenet.bench_wavenet(dataset8, rounds=2, steps_per_round=2, use_torch=False)
    text = wavenet.format_wavenet_table(r)
    assert "76,579 parameters" in text and wavenet.NUMPY in text
    assert r["variants"][wavenet.NUMPY]["ratio_to_fast"] == 1.0
    assert r["notes"][0] == "torch variant not requested"
    with pytest.raises(ValueError, match="block_size 8"):
        wavenet.bench_wavenet(data.load_dataset(dataset8.path, 3), rounds=1, steps_per_round=1)
