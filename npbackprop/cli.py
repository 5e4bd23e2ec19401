"""The command line: npbackprop train | sample | eval | check | bench.

The command line alone prints to the user and decides exit codes (this
module, check/command.py and bench/command.py, through console.run): a user
mistake (NpbackpropError) becomes one line on stderr and a non-zero exit;
anything else is a bug and keeps its traceback.
"""

import argparse
import json
import sys
from dataclasses import asdict, fields, replace
from pathlib import Path

import numpy as np

from npbackprop import checkpoint, data, datafile, model, plot, train
from npbackprop.bench import command as bench_command
from npbackprop.check import command as check_command
from npbackprop.console import run, say
from npbackprop.errors import NpbackpropError

DEFAULTS = train.Config()
SAMPLE_SEED = 2147483647 + 10  # the lecture's sampling generator


# -----------------------------------------------------------------------------
# train

def add_train_parser(sub):
    p = sub.add_parser("train", help="train the lecture's MLP with hand-written gradients "
                       "(exercise 4)", description="Train the lecture's MLP (exercise 4). On "
                       "--resume, settings not given on the command line come from the checkpoint.")
    p.add_argument("-i", "--input-file", metavar="FILE", help="names, one per line (default: "
                   "$NPBACKPROP_DATA, data/names.txt, ../shared/data/names.txt, else download)")
    p.add_argument("-o", "--out-dir", metavar="DIR", default="out", help="folder for model.npz, "
                   "config.json, metrics.json (default: %(default)s)")
    config = p.add_argument_group("model and schedule (the lecture's values by default)")
    flags = {"n_embd": ("--n-embd", "embedding size per character"),
             "n_hidden": ("--n-hidden", "hidden units"),
             "block_size": ("--block-size", "context length in characters"),
             "batch_size": ("--batch-size", "minibatch size (at least 2)"),
             "max_steps": ("--max-steps", "training steps"),
             "lr": ("--lr", "learning rate before --lr-decay-step"),
             "lr_decayed": ("--lr-decayed", "learning rate from --lr-decay-step on"),
             "lr_decay_step": ("--lr-decay-step", "step at which the learning rate decays"),
             "seed": ("--seed", "seed of the one random generator (init and minibatches)"),
             "dtype": ("--dtype", "float32 or float64")}
    for f in fields(train.Config):
        flag, text = flags[f.name]
        names = ("-b", flag) if f.name == "batch_size" else (flag,)
        kind = {"int": int, "float": float, "str": str}[f.type if isinstance(f.type, str)
                                                         else f.type.__name__]
        # None means "not given": the default, or on --resume the checkpoint's value
        config.add_argument(*names, dest=f.name, type=kind, default=None,
                            metavar={int: "N", float: "LR", str: "NAME"}[kind],
                            help=f"{text} (default: {getattr(DEFAULTS, f.name)})")
    p.add_argument("--log-interval", type=int, default=10_000, metavar="STEPS",
                   help="print a progress line every this many steps (default: %(default)s)")
    p.add_argument("--checkpoint-interval", type=int, default=10_000, metavar="STEPS",
                   help="write model.npz every this many steps (default: %(default)s)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out-dir")
    p.add_argument("--force", action="store_true", help="overwrite a run in --out-dir")
    p.add_argument("--plot", action="store_true", help="write loss.png, the lecture's loss "
                   "curve (needs the plot extra)")
    p.add_argument("--num-samples", type=int, default=20, metavar="N",
                   help="names to sample at the end (default: %(default)s)")
    p.set_defaults(func=cmd_train)


def _train_config(args):
    """Flags over defaults, or on --resume flags over the checkpoint's settings."""
    base = asdict(DEFAULTS)
    if args.resume and Path(args.out_dir, checkpoint.MODEL_FILE).exists():
        saved = checkpoint.load_run(args.out_dir)[1]
        base.update({k: saved[k] for k in base if k in saved and k != "max_steps"})
    given = {k: v for k, v in vars(args).items() if k in base and v is not None}
    return replace(train.Config(**base), **given)


def cmd_train(args):
    for name in ("log_interval", "checkpoint_interval"):
        if getattr(args, name) < 1:
            raise NpbackpropError(f"--{name.replace('_', '-')} must be at least 1")
    cfg = _train_config(args)
    train.validate(cfg)
    path = datafile.find_names_file(args.input_file, log=say)
    dataset = data.load_dataset(path, cfg.block_size)
    sizes = dataset.split_sizes
    say(f"data: {path}: {len(dataset.words):,} names, vocab {dataset.vocab_size}, "
         f"train/val/test {sizes['train']:,}/{sizes['val']:,}/{sizes['test']:,} examples")
    say(f"model: n_embd {cfg.n_embd}, n_hidden {cfg.n_hidden}, block_size {cfg.block_size}, "
         f"{cfg.dtype}; {cfg.max_steps:,} steps of batch {cfg.batch_size}")
    try:
        metrics = train.train(cfg, dataset, args.out_dir, resume=args.resume, force=args.force,
                              log_interval=args.log_interval,
                              checkpoint_interval=args.checkpoint_interval, log=say)
    except train.Interrupted as e:
        print(f"\n{e}; checkpoint written to {Path(e.out_dir) / checkpoint.MODEL_FILE}.\n"
              f"Resume with: npbackprop train -o {e.out_dir} --resume", file=sys.stderr)
        return 128 + e.signum
    say(f"after calibration: train {metrics['train_loss']:.4f}  val {metrics['val_loss']:.4f}"
         f"  test {metrics['test_loss']:.4f}  ({metrics['seconds']:.1f} s of training)")
    if args.plot:
        try:
            arrays, _ = checkpoint.load_run(args.out_dir)
            plot.plot_losses(arrays["losses"], Path(args.out_dir) / "loss.png")
            say(f"loss curve: {Path(args.out_dir) / 'loss.png'}")
        except ImportError:
            say("--plot needs matplotlib: pip install -e \".[plot]\" (training is saved)")
    if args.num_samples > 0:
        _print_samples(args.out_dir, args.num_samples, SAMPLE_SEED)
    return 0


# -----------------------------------------------------------------------------
# sample and eval

def _print_samples(out_dir, num_samples, seed, max_len=50):
    params, bnmean, bnvar, cfg, _ = checkpoint.load_model(out_dir)
    names = model.sample(params, bnmean, bnvar, list(cfg["vocab"]), cfg["block_size"],
                         rng=np.random.default_rng(seed), num_samples=num_samples,
                         max_len=max_len)
    for name in names:
        say(name)


def add_sample_parser(sub):
    p = sub.add_parser("sample", help="sample names from a trained model",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("-o", "--out-dir", default="out", help="the run's folder")
    p.add_argument("-n", "--num-samples", type=int, default=20, help="how many names")
    p.add_argument("--seed", type=int, default=SAMPLE_SEED, help="sampling seed")
    p.add_argument("--max-len", type=int, default=50, help="longest name before it is cut")
    p.set_defaults(func=cmd_sample)


def cmd_sample(args):
    if args.num_samples < 1 or args.max_len < 1:
        raise NpbackpropError("--num-samples and --max-len must be at least 1")
    _print_samples(args.out_dir, args.num_samples, args.seed, args.max_len)
    return 0


def add_eval_parser(sub):
    p = sub.add_parser("eval", help="losses of a trained model over whole splits",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("-o", "--out-dir", default="out", help="the run's folder")
    p.add_argument("-i", "--input-file", help="names file (default: found as for train)")
    p.add_argument("--split", choices=["train", "val", "test", "all"], default="all")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_eval)


def cmd_eval(args):
    params, bnmean, bnvar, cfg, step = checkpoint.load_model(args.out_dir)
    dataset = data.load_dataset(datafile.find_names_file(args.input_file, log=say),
                                cfg["block_size"])
    if "".join(dataset.itos) != cfg["vocab"]:
        raise NpbackpropError(f"the checkpoint in {args.out_dir} was trained on another "
                              f"vocabulary ({cfg['vocab']!r}, this data has "
                              f"{''.join(dataset.itos)!r}); evaluate it on its own data with -i")
    splits = data.SPLITS if args.split == "all" else (args.split,)
    losses = {f"{s}_loss": model.split_loss(params, bnmean, bnvar, *dataset.split(s))
              for s in splits}
    if args.json:
        say(json.dumps({**losses, "step": step, "split_sizes": dataset.split_sizes}))
    else:
        for s in splits:
            say(f"{s:5s} loss {losses[f'{s}_loss']:.4f}  ({dataset.split_sizes[s]:,} examples, "
                 f"step {step:,})")
    return 0


# -----------------------------------------------------------------------------

def build_parser():
    parser = argparse.ArgumentParser(prog="npbackprop", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_train_parser(sub)
    add_sample_parser(sub)
    add_eval_parser(sub)
    check_command.add_parser(sub)
    bench_command.add_parser(sub)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return run(args.func, args, f"npbackprop {args.command}")


if __name__ == "__main__":
    sys.exit(main())
