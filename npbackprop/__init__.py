"""npbackprop: makemore part 4 ("becoming a backprop ninja") in pure NumPy.

Every gradient of a character-level MLP written by hand, checked against
finite differences and a PyTorch reference, with a trainer, a grader and a CLI.

    import npbackprop as nb
    run = nb.train(nb.Config(max_steps=5000))        # trains in memory, returns a Run
    run.metrics["val_loss"], run.sample(5)
    run = nb.load_run("out")                         # a run `npbackprop train` wrote

Names are imported when first used, so `import npbackprop` stays quick.
"""

import importlib

# not `from typing import TYPE_CHECKING`: importing typing takes milliseconds during which
# `python -m npbackprop` cannot yet turn Ctrl-C into its one-line message (type checkers
# read this form too)
TYPE_CHECKING = False

__version__ = "0.2.0"

# public name -> the module that defines it
_EXPORTS = {
    "Config": "npbackprop.config", "ConfigError": "npbackprop.config",
    "defaults": "npbackprop.config",
    "train": "npbackprop.trainer", "Interrupted": "npbackprop.trainer",
    "Diverged": "npbackprop.trainer",
    "Run": "npbackprop.run", "load_run": "npbackprop.run", "evaluate": "npbackprop.run",
    "load_dataset": "npbackprop.data", "Dataset": "npbackprop.data",
    "find_names_file": "npbackprop.datafile",
    "unbroadcast": "npbackprop.broadcast",
    "check_layer": "npbackprop.gradcheck", "numerical_gradient": "npbackprop.gradcheck",
    "compare": "npbackprop.gradcheck", "GradcheckError": "npbackprop.gradcheck",
    "NpbackpropError": "npbackprop.errors",
    "make_setup": "npbackprop.check", "grade": "npbackprop.check",
    "check_builtin": "npbackprop.check", "template": "npbackprop.check",
    "lecture_setup": "npbackprop.check", "grade_namespace": "npbackprop.check",
    "grade5_funcs": "npbackprop.check",
}
_MODULES = ("layers", "chunked", "model", "fast", "check")

__all__ = sorted(_EXPORTS) + list(_MODULES) + ["__version__"]


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _MODULES:
        value = importlib.import_module(f"npbackprop.{name}")
    else:
        raise AttributeError(f"module 'npbackprop' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return __all__


if TYPE_CHECKING:  # for type checkers and editors: the same names, imported eagerly
    from npbackprop import check, chunked, fast, layers, model  # noqa: F401
    from npbackprop.broadcast import unbroadcast  # noqa: F401
    from npbackprop.check import (check_builtin, grade, grade5_funcs,  # noqa: F401
                                  grade_namespace, lecture_setup, make_setup, template)
    from npbackprop.config import Config, ConfigError, defaults  # noqa: F401
    from npbackprop.data import Dataset, load_dataset  # noqa: F401
    from npbackprop.datafile import find_names_file  # noqa: F401
    from npbackprop.errors import NpbackpropError  # noqa: F401
    from npbackprop.gradcheck import (GradcheckError, check_layer, compare,  # noqa: F401
                                      numerical_gradient)
    from npbackprop.run import Run, evaluate, load_run  # noqa: F401
    from npbackprop.trainer import Diverged, Interrupted, train  # noqa: F401
