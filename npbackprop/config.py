"""What a run is: the network, the schedule and the seed, with the lecture's values.

    cfg = Config()                          # n_embd 10, n_hidden 200, 200,000 steps, ...
    cfg = Config(max_steps=5000, n_hidden=100)
    cfg = defaults("wavenet")               # part 5's network with its lecture's sizes
    validate(cfg)                           # ConfigError("batch_size must be at least 2 ...")

A ConfigError names the field (batch_size) for Python callers; the command
line shows it with its flag (--batch-size).
"""

import math
import operator
from dataclasses import asdict, dataclass, fields

import numpy as np

from npbackprop.errors import NpbackpropError
from npbackprop.names import MODELS

DTYPES = {"float32": np.float32, "float64": np.float64}


@dataclass(frozen=True)
class Config:
    """The lecture's exercise-4 run: its network, schedule and seed."""

    n_embd: int = 10
    n_hidden: int = 200
    block_size: int = 3
    batch_size: int = 32
    max_steps: int = 200_000
    lr: float = 0.1
    lr_decayed: float = 0.01
    lr_decay_step: int = 100_000
    seed: int = 2147483647
    dtype: str = "float32"
    model: str = "mlp"
    # where evaluation's batchnorm statistics come from; None: the model's own (model_bn_stats)
    bn_stats: str = None

    def __post_init__(self):
        if self.bn_stats is None:
            object.__setattr__(self, "bn_stats", model_bn_stats(self.model))


# part 4 calibrates the batchnorm statistics after training; part 3 keeps running ones
BN_STATS = ("calibrate", "running")


def model_bn_stats(model: str) -> str:
    """A model's own bn_stats: the mlp calibrates (part 4; running is part 3's option for
    it), the wavenet and the deep MLP keep running statistics, as their lectures do."""
    return "calibrate" if model == "mlp" else "running"


def upgrade_saved(saved: dict) -> dict:
    """A run's saved settings as this version reads them: a checkpoint from before bn_stats
    calibrates, and a wavenet or deep run's "calibrate" (the mlp's default, recorded before
    Config resolved it per model) was never applied: those models keep running statistics."""
    model = saved.get("model", "mlp")
    own = model_bn_stats(model)
    return {**saved, "bn_stats": saved.get("bn_stats", own) if model == "mlp" else own}


# each network's lecture sizes and decay step (parts 5 and 3 decay at 150,000)
MODEL_DEFAULTS = {"mlp": {},
                  "wavenet": dict(n_embd=24, n_hidden=128, block_size=8, lr_decay_step=150_000),
                  "deep": dict(n_embd=10, n_hidden=100, block_size=3, lr_decay_step=150_000)}


def defaults(model: str = "mlp") -> "Config":
    """The Config of a model's lecture run; Config(model=...) alone keeps part 4's sizes."""
    if model not in MODEL_DEFAULTS:
        raise ConfigError("model", f"must be one of {', '.join(MODELS)}, got {model!r}")
    return Config(model=model, **MODEL_DEFAULTS[model])


FIELDS = tuple(f.name for f in fields(Config))
# a resumed run must agree with its checkpoint on everything but max_steps
RESUME_KEYS = tuple(k for k in FIELDS if k != "max_steps")


def resume_changes(saved: dict, given: dict, keys=RESUME_KEYS) -> dict:
    """{key: the run's value} for each of keys that `given` sets otherwise than the run's
    `saved` settings (as checkpoint.read_checkpoint gives them, upgraded): what a resume,
    which continues the run as it was started, refuses."""
    return {k: saved.get(k) for k in keys if k in given and given[k] != saved.get(k)}


def refuse_resume_changes(saved: dict, given: dict, out_dir) -> None:
    """NpbackpropError naming each setting in `given` (from flags) that differs from the
    run's `saved` ones (max_steps may grow)."""
    differ = resume_changes(saved, given)
    if differ:
        flags = [f"--{k.replace('_', '-')}" for k in differ]
        detail = ", ".join(f"{f} {given[k]} (the run has {differ[k]})"
                           for f, k in zip(flags, differ))
        raise NpbackpropError(f"cannot resume the run in {out_dir} with other settings: "
                              f"{detail}. Drop {' and '.join(flags)} to resume it as it was "
                              f"started, or train with them into another --out-dir")


class ConfigError(NpbackpropError):
    """A setting that cannot work: `field` names it, `problem` says why."""

    def __init__(self, field, problem):
        super().__init__(f"{field} {problem}")
        self.field, self.problem = field, problem

    def with_flag(self):
        """The same message with the command line's flag for the field."""
        return f"--{self.field.replace('_', '-')} {self.problem}"


def validate(cfg: Config) -> None:
    """Raise ConfigError naming the first setting that cannot work."""
    for name in ("n_embd", "n_hidden", "block_size", "batch_size", "max_steps",
                 "lr_decay_step", "seed"):
        value = getattr(cfg, name)
        try:
            operator.index(value)
        except TypeError:
            raise ConfigError(name, f"must be an integer, got {value!r}") from None
    if cfg.batch_size < 2:
        raise ConfigError("batch_size", f"must be at least 2, got {cfg.batch_size}: batchnorm's "
                          f"variance divides by batch_size - 1 (Bessel's correction)")
    for name in ("block_size", "n_embd", "n_hidden"):
        if getattr(cfg, name) < 1:
            raise ConfigError(name, f"must be at least 1, got {getattr(cfg, name)}")
    for name in ("max_steps", "lr_decay_step"):
        if getattr(cfg, name) < 0:
            raise ConfigError(name, f"must not be negative, got {getattr(cfg, name)}")
    if cfg.seed < 0:
        raise ConfigError("seed", f"must not be negative, got {cfg.seed} (numpy seeds are "
                          f"integers from 0)")
    for name in ("lr", "lr_decayed"):
        value = getattr(cfg, name)
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise ConfigError(name, f"must be a finite number above 0, got {value}")
    if cfg.model not in MODELS:
        raise ConfigError("model", f"must be one of {', '.join(MODELS)}, got {cfg.model!r}")
    if cfg.model == "wavenet" and (cfg.block_size < 2 or cfg.block_size & (cfg.block_size - 1)):
        raise ConfigError("block_size", f"must be a power of 2 for the wavenet (it merges "
                          f"pairs of neighbours), got {cfg.block_size}")
    if cfg.bn_stats not in BN_STATS:
        raise ConfigError("bn_stats", f"must be one of {', '.join(BN_STATS)}, got {cfg.bn_stats!r}")
    if cfg.model != "mlp" and cfg.bn_stats != model_bn_stats(cfg.model):
        raise ConfigError("bn_stats", f"{cfg.bn_stats} is part 4's, for the mlp model: the "
                          f"{cfg.model} model keeps running statistics (momentum 0.1), its "
                          f"only choice")
    if cfg.dtype not in DTYPES:
        raise ConfigError("dtype", f"must be one of {', '.join(DTYPES)}, got {cfg.dtype!r}")


def learning_rate(step: int, cfg: Config) -> float:
    """The lecture's step decay: lr before lr_decay_step, lr_decayed from it on."""
    return cfg.lr if step < cfg.lr_decay_step else cfg.lr_decayed


def config_of(saved: dict, **given) -> Config:
    """The Config a run's saved settings describe, with `given` fields replaced."""
    return Config(**{**{k: saved[k] for k in FIELDS if k in saved}, **given})


def as_dict(cfg: Config) -> dict:
    return asdict(cfg)
