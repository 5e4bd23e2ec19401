"""`npbackprop check`: the lecture's gradient table, and grading a learner's backward.

    npbackprop check                                  # our 26 + 2 gradients, torch and FD
    npbackprop check --template > mine.py             # a starting file
    npbackprop check --impl mine.py:backward          # exercise 1, the learner's
    npbackprop check --exercise 3 --impl mine.py:batchnorm_backward
    npbackprop check --impl mine.py --n-hidden 30 --batch-size 8 --seed 1   # complex steps
    npbackprop check --impl my_solution.ipynb --timeout 120                  # a notebook
    npbackprop check --impl mine.py --memory-limit 1G         # the child's address space
    npbackprop check --exercise 5 --impl part5.py     # part 5: 3-D batchnorm, flatten

Exit 0 when every row passes, 1 when some row does not, 2 on a usage mistake.
cli.py wires it in with add_parser(subparsers); main(argv) runs it alone.
"""

import argparse
import sys
import time

from npbackprop.check import child, exercise5, grader, learner, namespace, setups
from npbackprop.console import HelpFormatter, run
from npbackprop.errors import NpbackpropError
from npbackprop.names import GRAD_NAMES

PROG = "npbackprop check"


def _int(text):
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def _positive_int(text):
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _seed(text):
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value} (numpy seeds are "
                                         f"integers from 0)")
    return value


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {text}")
    return value


def add_arguments(p):
    p.add_argument("--impl", metavar="FILE.py[:FUNC] | FILE.ipynb",
                   help="grade your own backward instead of ours; FUNC defaults to backward, "
                   "cross_entropy_backward or batchnorm_backward by --exercise; a notebook's "
                   "code cells run in order (the lecture's names predefined) and the names "
                   "they define (dlogprobs, ..., dlogits, dhprebn) are graded")
    p.add_argument("--timeout", type=_positive_float, default=child.DEFAULT_TIMEOUT,
                   metavar="S", help="seconds your code may run, in a child process "
                   f"(default: {child.DEFAULT_TIMEOUT})")
    p.add_argument("--memory-limit", metavar="SIZE", default=None,
                   help="address space your code may use, in a child process: 2G, 512M, "
                   f"1.5GiB (default: {child.describe_size(child.MEMORY_LIMIT)})")
    p.add_argument("--exercise", type=int, choices=sorted(grader.EXERCISES) + [5], default=None,
                   help="1: the chunked backward, FUNC(cache) -> {name: grad}; 2: fused "
                   "cross-entropy, FUNC(logits, Yb) -> dlogits; 3: fused batchnorm, "
                   "FUNC(dhpreact, cache) -> dhprebn (default: 1 with --impl, else all); "
                   "5: part 5's 3-D batchnorm and FlattenConsecutive backward, "
                   "batchnorm3d_backward and flatten_backward in one FILE.py")
    p.add_argument("--template", action="store_true",
                   help="write a starting file for --impl to stdout and stop")
    sizes = p.add_argument_group(
        "another setup (any of these: a random batch and init from --seed, complex-step "
        "derivatives as the reference; default: the lecture's torch fixture)")
    sizes.add_argument("--seed", type=_seed, default=None, metavar="N",
                       help=f"seed of init and batch (default: {setups.DEFAULT_SEED})")
    for field, flag, text in (("vocab_size", "--vocab-size", "vocabulary size V"),
                              ("n_embd", "--n-embd", "embedding size per character E"),
                              ("n_hidden", "--n-hidden", "hidden units H"),
                              ("block_size", "--block-size", "context length T"),
                              ("batch_size", "--batch-size", "batch size N, at least 2")):
        names = ("-b", flag) if field == "batch_size" else (flag,)
        sizes.add_argument(*names, dest=field, type=_positive_int, default=None, metavar="N",
                           help=f"{text} (default: {getattr(setups.LECTURE_SIZES, field)})")


def add_parser(subparsers):
    """Add `check` to an argparse subparsers action; its handler is args.func(args) -> int."""
    p = subparsers.add_parser(
        "check", help="check the gradients, ours or your own backward (--impl)",
        description="Print the lecture's gradient table (exact / approximate / maxdiff) "
        "for our backward passes against the torch fixture and complex-step derivatives, or "
        "grade your own backward with --impl; --template writes a starting file.",
        formatter_class=HelpFormatter)
    add_arguments(p)
    p.set_defaults(func=cmd_check)
    return p


def _progress(after=2.0):
    """progress(done, total): a line on stderr, rewritten, once `after` seconds have gone."""
    start, shown = time.monotonic(), [0.0]

    def progress(done, total):
        now = time.monotonic()
        if now - start < after or (now - shown[0] < 0.5 and done < total):
            return
        shown[0] = now
        end = "\n" if done == total else ""
        sys.stderr.write(f"\r{PROG}: reference, {done}/{total} perturbations "
                         f"({now - start:.0f} s){end}")
        sys.stderr.flush()

    return progress


def cmd_check(args):
    """The handler: print the report; return 0 if every row passes, 1 if not."""
    memory = (child.MEMORY_LIMIT if args.memory_limit is None
              else child.parse_size(args.memory_limit))
    if args.template:
        if args.impl or args.exercise not in (None, 5):
            raise NpbackpropError("--template takes no --impl, and --exercise 5 only (the "
                                  "template of exercises 1-3 is one file)")
        sys.stdout.write(exercise5.template5() if args.exercise == 5 else learner.template())
        return 0
    if args.exercise == 5:
        return _check5(args, memory)
    setup = setups.make_setup(args.seed, vocab_size=args.vocab_size, n_embd=args.n_embd,
                              n_hidden=args.n_hidden, block_size=args.block_size,
                              batch_size=args.batch_size)
    progress = _progress()
    if args.impl:
        if setup.torch_grads is None:
            # the reference first (computed once per setup), with progress past a few s
            setups.reference_grads(setup, {1: GRAD_NAMES, 2: ("logits",),
                                           3: ("hpreact", "hprebn")}[args.exercise or 1],
                                   progress)
        report = namespace.grade(args.impl, args.exercise or 1, setup, args.timeout, memory)
    else:
        exercises = (args.exercise,) if args.exercise else (1, 2, 3)
        report = grader.check_builtin(setup, exercises, progress)
    print(report.text(), flush=True)
    return 0 if report.ok else 1


def _check5(args, memory):
    """Part 5's exercise: the learner's file graded on make_setup5(--seed)."""
    given = [f for f in setups.LECTURE_SIZES._fields if getattr(args, f) is not None]
    if given:
        raise NpbackpropError(f"--{given[0].replace('_', '-')} does not apply to exercise 5 "
                              "(its sizes are fixed; --seed draws another setup)")
    if not args.impl or str(args.impl).endswith(".ipynb"):
        raise NpbackpropError("exercise 5 grades a .py file with batchnorm3d_backward and "
                              "flatten_backward: npbackprop check --exercise 5 --impl mine.py "
                              "(start from: npbackprop check --template --exercise 5 > mine.py)")
    setup = exercise5.make_setup5() if args.seed is None else exercise5.make_setup5(args.seed)
    report = exercise5.grade5(args.impl, setup, args.timeout, memory)
    print(report.text(), flush=True)
    return 0 if report.ok else 1


def main(argv=None):
    """Run `check` with its own parser: main(["--impl", "mine.py"]) -> exit code."""
    parser = argparse.ArgumentParser(prog="npbackprop")
    add_parser(parser.add_subparsers(dest="command", required=True))
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(["check"] + argv)
    except SystemExit as e:  # argparse's usage error (2) or --help (0)
        return e.code if isinstance(e.code, int) else 2
    return run(args.func, args, PROG)


if __name__ == "__main__":
    sys.exit(main())
