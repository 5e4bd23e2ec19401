"""npbackprop: makemore part 4 ("becoming a backprop ninja") in pure NumPy.

Every gradient of a character-level MLP written by hand, checked against
finite differences and a PyTorch reference, with a trainer and a CLI.
"""

from npbackprop.broadcast import unbroadcast
from npbackprop.errors import NpbackpropError

__all__ = ["unbroadcast", "NpbackpropError"]
__version__ = "0.1.0"
