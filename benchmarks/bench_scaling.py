"""The scaling table: the fast training step for n_hidden 64-1024 and batch 32-512.

For each size, us/step (median over interleaved rounds) and the effective
GFLOP/s of its six matmuls, 6 N H (T E + V) floating-point operations a step.

    python benchmarks/bench_scaling.py --json scaling.json
"""

import sys
from pathlib import Path

# run from a checkout without installing: the package is beside this folder
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from npbackprop.bench import command as bench_command  # noqa: E402

if __name__ == "__main__":
    sys.exit(bench_command.main(prog="bench_scaling.py", default_parts=("scaling",),
                            description=__doc__.split("\n\n")[0]))
