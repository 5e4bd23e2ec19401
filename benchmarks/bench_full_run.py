"""The full run: the lecture's default 200,000-step training, timed, with its losses.

Trains train.Config() into a temporary folder (as `npbackprop train` would)
and reports the training loop's seconds, the wall time of the whole call and
the losses after calibration.

    python benchmarks/bench_full_run.py --json full_run.json
"""

import sys
from pathlib import Path

# run from a checkout without installing: the package is beside this folder
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from npbackprop.bench import command as bench_command  # noqa: E402

if __name__ == "__main__":
    sys.exit(bench_command.main(prog="bench_full_run.py", default_parts=("full-run",),
                            description=__doc__.split("\n\n")[0]))
