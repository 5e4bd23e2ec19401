"""What `npbackprop check` grades against: one batch through the lecture's net.

    setup = make_setup()                       # the lecture's torch fixture
    setup = make_setup(seed=1, n_hidden=30)    # a seeded random one, complex steps
    ref = reference_grads(setup, ("W1", "b1"))

Owns the sizes, the tolerances and the reference gradients. Nothing here
prints; a bad size raises NpbackpropError.
"""

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from npbackprop import chunked, model
from npbackprop.check import fixture
from npbackprop.check.reference import complex_step_grads
from npbackprop.errors import NpbackpropError
from npbackprop.gradcheck import EPS
from npbackprop.names import BATCH_SIZE, BLOCK_SIZE, EXERCISE_N_HIDDEN, N_EMBD, VOCAB_SIZE

DEFAULT_SEED = 42


class Sizes(NamedTuple):
    """V vocab_size, E n_embd, H n_hidden, T block_size, N batch_size; the lecture's."""

    vocab_size: int = VOCAB_SIZE
    n_embd: int = N_EMBD
    n_hidden: int = EXERCISE_N_HIDDEN
    block_size: int = BLOCK_SIZE
    batch_size: int = BATCH_SIZE


LECTURE_SIZES = Sizes()


@dataclass(frozen=True)
class Tolerance:
    """An element passes when |value - reference| <= atol + rtol * |reference|."""

    atol: float
    rtol: float
    source: str

    def describe(self):
        return (f"|value - reference| <= {self.atol:g} + {self.rtol:g} * |reference| "
                f"({self.source})")


# the lecture's `approximate` column is torch.allclose with its defaults
ALLCLOSE = Tolerance(1e-8, 1e-5, "torch.allclose defaults, the lecture's `approximate`")
# complex-step derivatives are exact to rounding, as torch's are: the same tolerance
COMPLEX_STEP = Tolerance(ALLCLOSE.atol, ALLCLOSE.rtol,
                         "torch.allclose defaults; complex steps are exact to rounding")
# chunked.numerical_grads, central differences: good to ~1e-9 at the lecture's size,
# but not at batch 2 (a column variance far below the batchnorm eps)
FINITE_DIFF = Tolerance(1e-7, 1e-4, f"central differences, eps {EPS:g}, float64")


class Setup(NamedTuple):
    """One batch through the lecture's net, and where its reference gradients come from."""

    params: dict
    Xb: np.ndarray
    Yb: np.ndarray
    sizes: Sizes
    seed: object            # None: the lecture's torch fixture
    cache: dict             # chunked.forward's cache: intermediates, params, Xb, Yb, n
    torch_grads: object     # the fixture's 26 float64 gradients, or None
    refs: object = None     # {} for the complex-step gradients computed so far, by name
    budget: object = None   # at most this many elements per tensor checked, None: all

    def describe(self):
        s = self.sizes
        dims = (f"N {s.batch_size}, T {s.block_size}, E {s.n_embd}, H {s.n_hidden}, "
                f"V {s.vocab_size}; float64")
        if self.torch_grads is not None:
            return (f"the lecture's setup ({dims}); reference: the committed torch "
                    f"{fixture.torch_version()} fixture")
        return f"seed {self.seed} ({dims}); reference: complex-step derivatives"

    @property
    def tolerance(self):
        return ALLCLOSE if self.torch_grads is not None else COMPLEX_STEP


def fixture_setup():
    """The lecture's exercise-1 batch and parameters, from the torch fixture (float64)."""
    ref = fixture.load_reference(np.float64)
    _, cache = chunked.forward(ref.params, ref.Xb, ref.Yb)
    s = Sizes(ref.params["C"].shape[0], ref.params["C"].shape[1], ref.params["W1"].shape[1],
              ref.Xb.shape[1], ref.Xb.shape[0])
    return Setup(ref.params, ref.Xb, ref.Yb, s, None, cache, dict(ref.grads), {})


def random_setup(sizes, seed):
    """model.init_params in float64 and a uniformly random batch, both from `seed`."""
    if min(sizes) < 1:
        raise NpbackpropError(f"sizes must be positive, got {sizes._asdict()}")
    if sizes.batch_size < 2:
        raise NpbackpropError("--batch-size must be at least 2: the batch variance divides by n-1")
    rng = np.random.default_rng(seed)
    params = model.init_params(sizes.vocab_size, sizes.n_embd, sizes.n_hidden,
                               sizes.block_size, rng=rng, dtype=np.float64)
    Xb = rng.integers(0, sizes.vocab_size, (sizes.batch_size, sizes.block_size))
    Yb = rng.integers(0, sizes.vocab_size, sizes.batch_size)
    _, cache = chunked.forward(params, Xb, Yb)
    return Setup(params, Xb, Yb, sizes, seed, cache, None, {})


def make_setup(seed=None, **sizes):
    """The lecture's fixture when nothing is given; else a seeded random setup.

    sizes: vocab_size, n_embd, n_hidden, block_size, batch_size; None (or
    absent) means the lecture's value.
    """
    given = {k: v for k, v in sizes.items() if v is not None}
    if seed is None and not given:
        return fixture_setup()
    return random_setup(LECTURE_SIZES._replace(**given),
                        DEFAULT_SEED if seed is None else seed)


def reference_grads(setup, names, progress=None):
    """{name: reference gradient}: torch's if the setup has them, else complex steps
    (computed once per setup; NaN where a budget left an element unchecked)."""
    if setup.torch_grads is not None:
        return {k: setup.torch_grads[k] for k in names}
    refs = {} if setup.refs is None else setup.refs
    todo = [k for k in names if k not in refs]
    if todo:
        refs.update(complex_step_grads(setup.cache, todo, setup.budget, progress=progress))
    return {k: refs[k] for k in names}
