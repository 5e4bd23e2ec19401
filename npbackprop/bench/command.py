"""`npbackprop bench`: time the training step, side by side with eager PyTorch.

    npbackprop bench                        # the side-by-side table and the BLAS-thread table
    npbackprop bench --scaling --full-run   # also the size sweep and the default 200k-step run
    npbackprop bench --only scaling --json scaling.json
    npbackprop bench --only wavenet         # part 5's step against eager torch autograd

The cli wires it in with `command.add_parser(sub)`; `main(argv)` runs it
on its own (the scripts in benchmarks/ do). The measuring lives in
harness.py and tables.py.
"""

import argparse
import json
import sys
from pathlib import Path

from npbackprop import data, datafile
from npbackprop.bench import compare, harness, loop, tables, wavenet
from npbackprop.console import HelpFormatter, run, say
from npbackprop.errors import NpbackpropError

PARTS = ("step", "threads", "loop", "compiled", "scaling", "full-run", "compiled-full-run",
         "wavenet")
DEFAULT_PARTS = ("step", "threads")
# steps per variant per round when --steps-per-round is not given (the wavenet step is slower)
STEPS, WAVENET_STEPS = 200, 100


def _add_options(p, default_parts=DEFAULT_PARTS):
    p.add_argument("-i", "--input-file", help="names, one per line (default: found as for train)")
    p.add_argument("--rounds", type=int, default=15, help="timed rounds per table; each round "
                   "runs every variant once, interleaved")
    p.add_argument("--steps-per-round", type=int, default=None, metavar="N",
                   help="steps per variant per round: N for the step and wavenet tables "
                   f"(default {STEPS} and {WAVENET_STEPS}); the threads table takes N/4, "
                   "scaling N/10 and loop 10*N (of 200 if not given); each table says its own")
    p.add_argument("--warmup-rounds", type=int, default=1, help="untimed rounds first")
    p.add_argument("--threads", type=int, default=1, help="BLAS (and torch) threads, pinned "
                   "for the benchmark")
    p.add_argument("--no-torch", action="store_true", help="skip the torch variants")
    p.add_argument("--scaling", action="store_true", help="also time the fast step for "
                   "n_hidden 64-1024 and batch 32-512")
    p.add_argument("--full-run", action="store_true", help="also train the default 200,000-step "
                   "run and time it")
    p.add_argument("--max-steps", type=int, default=None, help="steps of --full-run (default: "
                   "the lecture's 200,000)")
    p.add_argument("--only", action="append", choices=PARTS, metavar="PART", help="run only "
                   f"this part ({', '.join(PARTS)}); repeatable (default: "
                   f"{' '.join(default_parts)}, plus --scaling/--full-run)")
    p.add_argument("--json", metavar="PATH", help="also write every result to this JSON file")
    p.add_argument("-v", "--verbose", action="store_true", help="print each round's times")
    p.set_defaults(func=cmd_bench, default_parts=default_parts)


def add_parser(sub):
    """Add the `bench` sub-command to an argparse subparsers object."""
    p = sub.add_parser("bench", help="time the training step, side by side with eager torch",
                       formatter_class=HelpFormatter,
                       description=__doc__.splitlines()[0])
    _add_options(p)
    return p


def _parts(args):
    if args.only:
        return [p for p in PARTS if p in args.only]
    chosen = set(args.default_parts)
    if args.scaling:
        chosen.add("scaling")
    if args.full_run:
        chosen.add("full-run")
    return [p for p in PARTS if p in chosen]


def cmd_bench(args):
    for name in ("rounds", "steps_per_round", "threads"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise NpbackpropError(f"--{name.replace('_', '-')} must be at least 1")
    if args.warmup_rounds < 0:
        raise NpbackpropError("--warmup-rounds must not be negative")
    if args.max_steps is not None and args.max_steps < 1:
        raise NpbackpropError("--max-steps must be at least 1")
    if args.json:
        _check_writable(Path(args.json))  # before minutes of timing, not after
    log = say if args.verbose else harness._no_log
    path = datafile.find_names_file(args.input_file, log=say)
    dataset = data.load_dataset(path, block_size=3)
    with harness.pinned_threads(args.threads):
        results = {"data": str(path), "machine": harness.machine_info()}
        say(harness.format_machine(results["machine"]))
        _run_parts(args, dataset, results, log)
    if args.json:
        try:
            Path(args.json).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        except OSError as e:
            raise NpbackpropError(f"cannot write --json {args.json}: {e.strerror}") from None
        say(f"\nresults written to {args.json}")
    return 0


def _check_writable(path):
    """NpbackpropError unless path can be written: opened for appending, then removed again
    if this made it (an existing file is left as it is until the results replace it)."""
    existed = path.exists()
    try:
        with open(path, "a", encoding="utf-8"):
            pass
    except OSError as e:
        raise NpbackpropError(f"cannot write --json {path}: {e.strerror}; give a file in a "
                              f"folder that exists and can be written") from None
    if not existed:
        path.unlink()


def _run_parts(args, dataset, results, log):
    n = args.steps_per_round or STEPS
    for part in _parts(args):
        say("")
        if part == "step":
            r = tables.bench_step(dataset, rounds=args.rounds, steps_per_round=n,
                                 warmup_rounds=args.warmup_rounds, threads=args.threads,
                                 use_torch=not args.no_torch, log=log)
            text = tables.format_step_table(r)
        elif part == "threads":
            r = tables.bench_threads(dataset, rounds=args.rounds,
                                    steps_per_round=max(1, n // 4), log=log)
            text = tables.format_threads_table(r)
        elif part == "loop":
            r = loop.bench_loop(dataset, rounds=args.rounds, steps=10 * n,
                                threads=args.threads, log=log)
            text = loop.format_loop_table(r)
        elif part == "compiled":
            r = compare.bench_compiled(dataset, rounds=max(3, args.rounds // 2),
                                       threads=args.threads, use_torch=not args.no_torch, log=log)
            text = compare.format_compiled(r)
        elif part == "compiled-full-run":
            r = compare.bench_compiled_full_run(dataset, max_steps=args.max_steps or 200_000,
                                                threads=args.threads,
                                                use_torch=not args.no_torch, log=log)
            text = compare.format_compiled_full_run(r)
        elif part == "scaling":
            r = tables.bench_scaling(dataset, rounds=args.rounds,
                                    steps_per_round=max(1, n // 10),
                                    threads=args.threads, log=log)
            text = tables.format_scaling_table(r)
        elif part == "wavenet":
            r = wavenet.bench_wavenet(data.load_dataset(dataset.path, 8), rounds=args.rounds,
                                      steps_per_round=args.steps_per_round or WAVENET_STEPS,
                                      warmup_rounds=args.warmup_rounds, threads=args.threads,
                                      use_torch=not args.no_torch, log=log)
            text = wavenet.format_wavenet_table(r)
        else:
            say(f"training {args.max_steps or 200_000:,} steps...")
            r = tables.bench_full_run(dataset, max_steps=args.max_steps, threads=args.threads,
                                     log=log)
            text = tables.format_full_run(r)
        results[part] = r
        say(text)


def main(argv=None, prog="npbackprop bench", default_parts=DEFAULT_PARTS, description=None):
    """Run the bench command on its own; the scripts in benchmarks/ call this."""
    parser = argparse.ArgumentParser(prog=prog, description=description or __doc__.splitlines()[0],
                                     formatter_class=HelpFormatter)
    _add_options(parser, default_parts)
    args = parser.parse_args(argv)
    return run(args.func, args, prog)


if __name__ == "__main__":
    sys.exit(main())
