"""The commands that read a trained run: npbackprop sample | eval | plot.

Split from cli.py (the train command and the parser), under the same rules:
a user mistake (NpbackpropError) is one line through console.run.
"""

import json
from pathlib import Path

from npbackprop import checkpoint, data, datafile, plot
from npbackprop import run as run_module
from npbackprop.console import HelpFormatter, say
from npbackprop.errors import NpbackpropError
from npbackprop.run import SAMPLE_SEED


def write_figures(run, dataset, out_dir, *, loss=True, diagnostics=False):
    """The run's figures as PNGs in out_dir; each path said as it is written."""
    for name, fig in plot.run_figures(run, dataset, loss=loss, diagnostics=diagnostics).items():
        plot.save(fig, Path(out_dir) / name)
        say(f"figure: {Path(out_dir) / name}")


def add_plot_parser(sub):
    p = sub.add_parser("plot", help="draw the figures of a trained run",
                       formatter_class=HelpFormatter,
                       description="Write loss.png and dlogits.png for the run in --out-dir; "
                       "with --diagnostics also its part-3 figures (the run must have been "
                       "trained with --diagnostics). Needs matplotlib.")
    p.add_argument("-o", "--out-dir", default="out", help="the run's folder")
    p.add_argument("-i", "--input-file", help="names file (default: the run's, else as train)")
    p.add_argument("--diagnostics", action="store_true", help="also the part-3 figures")
    p.set_defaults(func=cmd_plot)


def cmd_plot(args):
    plot.require_matplotlib()
    run = run_module.load_run(args.out_dir)
    cfg = run_module.saved_config(args.out_dir)
    dataset = data.load_dataset(_eval_data_path(args, cfg), run.config.block_size)
    if "".join(dataset.itos) != cfg["vocab"]:
        raise NpbackpropError(f"the names file has another vocabulary than the run in "
                              f"{args.out_dir}; give its own with -i {cfg.get('data')}")
    write_figures(run, dataset, args.out_dir, diagnostics=args.diagnostics)
    return 0


# -----------------------------------------------------------------------------
# sample and eval

def printable(name):
    """name with control characters escaped, so a name cannot drive the terminal."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in name)


def print_samples(run, num_samples, seed, max_len=50):
    for name in run.sample(num_samples, seed=seed, max_len=max_len):
        say(printable(name))


def _nonnegative_seed(seed):
    if seed < 0:
        raise NpbackpropError(f"--seed must not be negative, got {seed} (numpy seeds are "
                              f"integers from 0)")


def add_sample_parser(sub):
    p = sub.add_parser("sample", help="sample names from a trained model",
                       formatter_class=HelpFormatter)
    p.add_argument("-o", "--out-dir", default="out", help="the run's folder")
    p.add_argument("-n", "--num-samples", type=int, default=20, help="how many names")
    p.add_argument("--seed", type=int, default=SAMPLE_SEED, help="sampling seed")
    p.add_argument("--max-len", type=int, default=50, help="longest name before it is cut")
    p.set_defaults(func=cmd_sample)


def cmd_sample(args):
    if args.num_samples < 1 or args.max_len < 1:
        raise NpbackpropError("--num-samples and --max-len must be at least 1")
    _nonnegative_seed(args.seed)
    print_samples(run_module.load_run(args.out_dir), args.num_samples, args.seed, args.max_len)
    return 0


def add_eval_parser(sub):
    p = sub.add_parser("eval", help="losses of a trained model over whole splits",
                       formatter_class=HelpFormatter)
    p.add_argument("-o", "--out-dir", default="out", help="the run's folder")
    p.add_argument("-i", "--input-file", help="names file (default: the run's, else as train)")
    p.add_argument("--split", choices=["train", "val", "test", "all"], default="all",
                   help="the split to score")
    p.add_argument("--other-data", action="store_true", help="evaluate on data other than the "
                   "run's own, on purpose (the output says so)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_eval)


def _eval_data_path(args, cfg):
    if args.input_file is None and cfg.get("data") and Path(cfg["data"]).is_file():
        return Path(cfg["data"])
    return datafile.find_names_file(args.input_file, log=say)


def cmd_eval(args):
    run = run_module.load_run(args.out_dir)
    cfg = run_module.saved_config(args.out_dir)
    path = _eval_data_path(args, cfg)
    dataset = data.load_dataset(path, run.config.block_size)
    other = dataset.fingerprint != cfg.get("data_fingerprint")
    if "".join(dataset.itos) != cfg["vocab"]:
        raise NpbackpropError(f"the checkpoint in {args.out_dir} was trained on another "
                              f"vocabulary ({cfg['vocab']!r}, this data has "
                              f"{''.join(dataset.itos)!r}); evaluate it on its own data with -i")
    if other and not args.other_data:
        raise NpbackpropError(f"{path} is not the data the run in {args.out_dir} was trained "
                              f"on ({cfg.get('data')}, fingerprint {cfg.get('data_fingerprint')}"
                              f"): its splits would mix training names into val and test. "
                              f"Evaluate with -i {cfg.get('data')}, or pass --other-data to "
                              f"score this file on purpose")
    splits = data.SPLITS if args.split == "all" else (args.split,)
    losses = {f"{s}_loss": run.evaluate(dataset, s) for s in splits}
    label = f"  [other data: {path}]" if other else ""
    if args.json:
        extra = {"other_data": str(path)} if other else {}
        say(json.dumps(checkpoint.strict({**losses, "step": run.step,
                                          "split_sizes": dataset.split_sizes, **extra}),
                       allow_nan=False))
    else:
        for s in splits:
            say(f"{s:5s} loss {losses[f'{s}_loss']:.4f}  ({dataset.split_sizes[s]:,} examples, "
                f"step {run.step:,}){label}")
    return 0 if run_module.finite_metrics(losses) else 3
