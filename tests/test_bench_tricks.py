"""benchmarks/bench_tricks.py stays in step with the fast step it measures."""

import re
import sys
from pathlib import Path

import pytest

from npbackprop import fast
from strategies import make_case

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
bench_tricks = pytest.importorskip("bench_tricks")


@pytest.mark.parametrize("what, edits", bench_tricks.ABLATIONS)
def test_every_ablation_applies_to_the_fast_step(what, edits):
    # step_variant refuses (SystemExit) an edit whose text is no longer in the source
    step = bench_tricks.step_variant(edits)
    # and the variant still computes the step: same loss as the real one
    params, Xb, Yb = make_case(0, 8, 3, 4, 6, 7)
    ws_real, ws_variant = fast.Workspace(params, 8), bench_tricks.workspace_for(edits, params, 8)
    real = fast.fast_sgd_step(ws_real, Xb, Yb, 0.1)
    assert step(ws_variant, Xb, Yb, 0.1) == pytest.approx(real, rel=1e-12)


def test_a_stale_ablation_is_refused():
    with pytest.raises(SystemExit, match="no longer in fast_sgd_step"):
        bench_tricks.step_variant([("this text is not in the step", "")])


def test_every_trick_named_in_fast_py_is_in_results_md():
    # the step's tricks, and the buffers' (the Workspace lives in fast_workspace.py)
    source = "".join((ROOT / "npbackprop" / f).read_text()
                     for f in ("fast.py", "fast_workspace.py"))
    tricks = set(re.findall(r'trick\s+"([^"]+)"', source))
    assert len(tricks) >= 10
    results = (ROOT / "benchmarks" / "RESULTS.md").read_text()
    missing = sorted(t for t in tricks if f"[{t}]" not in results)
    assert not missing, f"tricks named in fast.py with no row in RESULTS.md: {missing}"
