"""The command line: npbackprop train | sample | eval | plot | check | bench.

This module holds the parser and train; cli_runs.py the commands that read a
trained run (sample, eval, plot).

The command line alone prints to the user and decides exit codes (this
module, cli_runs.py, check/command.py and bench/command.py, through console.run): a user
mistake (NpbackpropError) becomes one line on stderr and a non-zero exit;
anything else is a bug and keeps its traceback.
"""

import argparse
import sys
from dataclasses import asdict, fields, replace

from npbackprop import __version__, checkpoint, cli_runs, data, datafile, networks, plot, trainer
from npbackprop import run as run_module
from npbackprop.bench import command as bench_command
from npbackprop.check import command as check_command
from npbackprop.cli_runs import SAMPLE_SEED, print_samples, write_figures
from npbackprop.config import MODEL_DEFAULTS, ConfigError, defaults, refuse_resume_changes
from npbackprop.console import HelpFormatter, run, say
from npbackprop.errors import NpbackpropError
from npbackprop.folder import RunFolder

DEFAULTS = trainer.Config()
# a default that depends on --model, said in words in --help
DEFAULT_TEXT = {"bn_stats": "the model's own, calibrate for the mlp"}


# -----------------------------------------------------------------------------
# train

def add_train_parser(sub):
    p = sub.add_parser("train", help="train a network with hand-written gradients (exercise 4)",
                       formatter_class=HelpFormatter,
                       description="Train the lecture's MLP (exercise 4), or with --model part 5's "
                       "or 3's network. On --resume, settings not given come from the checkpoint.")
    p.add_argument("-i", "--input-file", metavar="FILE", help="names, one per line (default: "
                   "$NPBACKPROP_DATA, ./names.txt, ./data/names.txt, a source checkout's data/ "
                   "and ../shared/data/, the user cache ~/.cache/npbackprop/, else a download "
                   "into that cache)")
    p.add_argument("-o", "--out-dir", metavar="DIR", default="out", help="folder for model.npz, "
                   "config.json, metrics.json (default: %(default)s)")
    config = p.add_argument_group("model and schedule (the lecture's values by default)")
    flags = {"n_embd": ("--n-embd", "embedding size per character"),
             "n_hidden": ("--n-hidden", "hidden units"),
             "block_size": ("--block-size", "context length in characters"),
             "batch_size": ("--batch-size", "minibatch size (at least 2)"),
             "max_steps": ("--max-steps", "training steps; on --resume, the run's own unless "
                           "given, and a larger one extends it"),
             "lr": ("--lr", "learning rate before --lr-decay-step"),
             "lr_decayed": ("--lr-decayed", "learning rate from --lr-decay-step on"),
             "lr_decay_step": ("--lr-decay-step", "step at which the learning rate decays"),
             "seed": ("--seed", "seed of the one random generator (init and minibatches)"),
             "dtype": ("--dtype", "float32 or float64"),
             "model": ("--model", "mlp (part 4), wavenet (part 5), deep (part 3): its sizes"),
             "bn_stats": ("--bn-stats", "for the mlp, calibrate (part 4) or running (part 3, "
                          "momentum 0.001); the wavenet and deep models keep running statistics "
                          "(momentum 0.1)")}
    for f in fields(trainer.Config):
        flag, text = flags[f.name]
        names = ("-b", flag) if f.name == "batch_size" else (flag,)
        kind = {"int": int, "float": float, "str": str}[f.type if isinstance(f.type, str)
                                                         else f.type.__name__]
        # None means "not given": the default, or on --resume the checkpoint's value
        config.add_argument(*names, dest=f.name, type=kind, default=None,
                            choices=tuple(MODEL_DEFAULTS) if f.name == "model" else None,
                            metavar={int: "N", float: "LR", str: "NAME"}[kind],
                            help=f"{text} (default: "
                                 f"{DEFAULT_TEXT.get(f.name, getattr(DEFAULTS, f.name))})")
    p.add_argument("--log-interval", type=int, default=10_000, metavar="STEPS",
                   help="print a progress line every this many steps (default: %(default)s)")
    p.add_argument("--checkpoint-interval", type=int, default=10_000, metavar="STEPS",
                   help="write model.npz every this many steps (default: %(default)s)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out-dir with "
                   "its own settings and number of steps (give a larger number to extend it)")
    p.add_argument("--force", action="store_true", help="overwrite a run in --out-dir")
    p.add_argument("--plot", action="store_true", help="write loss.png (the loss curve) and, "
                   "for the mlp, dlogits.png (the lecture's imshow of dlogits); needs matplotlib")
    p.add_argument("--diagnostics", nargs="?", type=int, const=100, default=None,
                   metavar="STEPS", help="record part 3's health checks every STEPS steps "
                   "(default when given: 100) into diagnostics.npz and draw them "
                   "(activations.png, weight_gradients.png, update_ratio.png); needs matplotlib")
    p.add_argument("--num-samples", type=int, default=20, metavar="N",
                   help="names to sample at the end (default: %(default)s)")
    p.set_defaults(func=cmd_train)


def _train_config(args):
    """Flags over defaults, or on --resume flags over the checkpoint's settings."""
    base = asdict(defaults(args.model or "mlp"))
    given = {k: v for k, v in vars(args).items() if k in base and v is not None}
    if args.resume:
        saved = run_module.saved_config(args.out_dir)
        refuse_resume_changes(saved, given, args.out_dir)  # before the data is read
        base.update({k: saved[k] for k in base if k in saved})
    cfg = replace(trainer.Config(**base), **given)
    try:
        trainer.validate(cfg)
    except ConfigError as e:
        raise NpbackpropError(e.with_flag()) from None
    return cfg


def _check_train_flags(args):
    for name in ("log_interval", "checkpoint_interval"):
        if getattr(args, name) < 1:
            raise NpbackpropError(f"--{name.replace('_', '-')} must be at least 1")
    if args.num_samples < 0:
        raise NpbackpropError(f"--num-samples must not be negative, got {args.num_samples}")
    if args.out_dir == "":
        raise NpbackpropError("--out-dir must not be empty: name the run's folder")
    if args.resume and args.force:
        raise NpbackpropError("--resume and --force contradict each other: --resume "
                              "continues the run in --out-dir, --force replaces it")
    if args.diagnostics is not None and args.diagnostics < 1:
        raise NpbackpropError(f"--diagnostics must be at least 1 step, got {args.diagnostics}")
    if args.plot or args.diagnostics is not None:
        plot.require_matplotlib()  # said before training, not after


def cmd_train(args):
    _check_train_flags(args)
    if not args.resume:
        _train_config(args)  # refuse bad flags before the folder is touched
    # the folder is locked and checked before anything is loaded
    with RunFolder.open(args.out_dir, resume=args.resume, force=args.force) as folder:
        cfg = _train_config(args)
        if args.resume:
            arrays, saved = checkpoint.read_checkpoint(args.out_dir)
            step = int(arrays["step"])
            if step > cfg.max_steps:
                raise NpbackpropError(
                    f"--max-steps {cfg.max_steps:,} is fewer than the {step:,} steps the run in "
                    f"{args.out_dir} has already taken, and a run cannot be shortened: drop "
                    f"--max-steps (the run's own is {saved['max_steps']:,}) or give at least "
                    f"{step:,}; for a shorter run, train one into another --out-dir")
            if step == cfg.max_steps:
                say(f"the run in {args.out_dir} is finished: {step:,} of {cfg.max_steps:,} "
                    f"steps. Extend it with: npbackprop train -o {args.out_dir} --resume "
                    f"--max-steps N")
                return 0
        path = datafile.find_names_file(args.input_file, log=say)
        dataset = data.load_dataset(path, cfg.block_size)
        sizes = dataset.split_sizes
        say(f"data: {path}: {len(dataset.words):,} names, vocab {dataset.vocab_size}, "
            f"train/val/test {sizes['train']:,}/{sizes['val']:,}/{sizes['test']:,} examples")
        say(f"model: {cfg.model}, n_embd {cfg.n_embd}, n_hidden {cfg.n_hidden}, block_size "
            f"{cfg.block_size}, {cfg.dtype}; {cfg.max_steps:,} steps of batch {cfg.batch_size}")
        try:
            run = trainer.train(cfg, dataset, folder, resume=args.resume,
                                log_interval=args.log_interval,
                                checkpoint_interval=args.checkpoint_interval, log=say,
                                signals=trainer.CLI_SIGNALS, diagnostics=args.diagnostics)
        except trainer.Interrupted as e:
            hint = f"npbackprop train -o {e.out_dir} --resume" + " --plot" * args.plot
            print(f"\n{e}.\nResume with: {hint}", file=sys.stderr)  # diagnostics resume too
            return 128 + e.signum
        except ConfigError as e:
            raise NpbackpropError(e.with_flag()) from None
        m, calibrated = run.metrics, not networks.keeps_running(cfg)
        say(f"{'after calibration' if calibrated else 'running statistics'}: train "
            f"{m['train_loss']:.4f}  val {m['val_loss']:.4f}"
            f"  test {m['test_loss']:.4f}  ({m['seconds']:.1f} s of training)")
        if args.plot or run.diagnostics is not None:  # a resumed run keeps its diagnostics
            write_figures(run, dataset, args.out_dir, loss=args.plot,
                           diagnostics=run.diagnostics is not None)
    if args.num_samples > 0:
        print_samples(run, args.num_samples, SAMPLE_SEED)
    return 0


# -----------------------------------------------------------------------------

def build_parser():
    parser = argparse.ArgumentParser(prog="npbackprop", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"npbackprop {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_train_parser(sub)
    cli_runs.add_sample_parser(sub)
    cli_runs.add_eval_parser(sub)
    cli_runs.add_plot_parser(sub)
    check_command.add_parser(sub)
    bench_command.add_parser(sub)
    return parser


def main(argv=None):
    return run_command(build_parser().parse_args(argv))


def run_command(args):
    return run(args.func, args, f"npbackprop {args.command}")

