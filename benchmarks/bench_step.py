"""The side-by-side table: npbackprop's training step against eager PyTorch.

Times npbackprop's fast step (float32 and float64), its layered step, the
chunked exercise-1 backward and, when torch is installed, eager torch with
autograd, the lecture's manual loop and its index_add_ variant, all on the
same batches in interleaved rounds; then the fast step at 1 and 2 BLAS threads.

    python benchmarks/bench_step.py --json step.json
"""

import sys
from pathlib import Path

# run from a checkout without installing: the package is beside this folder
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from npbackprop.bench import command as bench_command  # noqa: E402

if __name__ == "__main__":
    sys.exit(bench_command.main(prog="bench_step.py", default_parts=("step", "threads"),
                            description=__doc__.split("\n\n")[0]))
