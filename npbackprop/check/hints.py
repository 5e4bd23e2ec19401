"""A hint keyed on the learner's error: torch spellings left in numpy code, and memory.

    hint("TypeError", "_sum() got an unexpected keyword argument 'keepdim'",
         "x.sum(1, keepdim=True)")
    -> "numpy spells it keepdims=True (torch's keepdim=True)"

From the exception's type, its message and the learner's failing source line;
"" when nothing is known. The line under the learner's traceback.
"""

import re

import numpy as np

# tensor methods and attributes a numpy array lacks -> the numpy spelling
ATTRIBUTES = {
    "clone": "x.copy() is numpy's x.clone()",
    "t": "x.T is numpy's x.t()",
    "float": "x.astype(np.float64) is numpy's x.float(); the arrays here are float64 already",
    "double": "x.astype(np.float64) is numpy's x.double(); the arrays here are float64 already",
    "indices": "x.argmax(1) is numpy's x.max(1).indices",
    "values": "numpy's x.max(1) is already the values (torch's x.max(1).values); the indices "
              "are x.argmax(1)",
    "exp": "np.exp(x) is numpy's x.exp()",
    "log": "np.log(x) is numpy's x.log()",
    "tanh": "np.tanh(x) is numpy's x.tanh()",
    "abs": "np.abs(x) is numpy's x.abs()",
    "numel": "x.size is numpy's x.numel()",
    "unsqueeze": "x[:, None] (or np.expand_dims(x, 1)) is numpy's x.unsqueeze(1)",
    "expand": "np.broadcast_to(x, shape) is numpy's x.expand(shape)",
    "expand_as": "np.broadcast_to(x, y.shape) is numpy's x.expand_as(y)",
    "view_as": "x.reshape(y.shape) is numpy's x.view_as(y)",
    "index_add_": "np.add.at(dC, Xb, demb) is numpy's dC.index_add_(0, Xb.view(-1), ...)",
    "zero_": "x[...] = 0 is numpy's x.zero_()",
    "detach": "a numpy array has no graph: drop the .detach()",
    "softmax": "np.exp(x) / np.exp(x).sum(1, keepdims=True) is numpy's x.softmax(1)",
}

# functions of torch.nn.functional (F.name) -> the numpy spelling
FUNCTIONAL = {
    "one_hot": "np.eye(k)[ix] is numpy's F.one_hot(ix, num_classes=k)",
    "softmax": "np.exp(x) / np.exp(x).sum(1, keepdims=True) is numpy's F.softmax(x, 1)",
    "cross_entropy": "-np.log(probs[range(n), Yb]).mean() is numpy's F.cross_entropy",
}

TORCH = ("there is no torch here: the arrays are numpy, and numpy spells torch.zeros_like, "
         "torch.ones_like, torch.exp ... as np.zeros_like, np.ones_like, np.exp")
MEMORY = ("your code asked for more memory than the child process may use (default 4G; "
          "--memory-limit SIZE to change it): is an array far larger than its tensor?")


def hint(exc_type, message, line=""):
    """The hint for the learner's exception, or ""."""
    line = line or ""
    if exc_type == "MemoryError":
        return MEMORY
    m = re.search(r"unexpected keyword argument '(\w+)'", message)
    if exc_type == "TypeError" and m and m.group(1) in ("keepdim", "dim"):
        return ("numpy spells it keepdims=True (torch's keepdim=True)" if m.group(1) == "keepdim"
                else "numpy calls it axis= (torch's dim=): x.sum(axis=1), or x.sum(1)")
    m = re.search(r"'numpy\.[\w.]+' object has no attribute '(\w+)'", message)
    if exc_type == "AttributeError" and m and m.group(1) in ATTRIBUTES:
        return ATTRIBUTES[m.group(1)]
    if exc_type in ("TypeError", "ValueError") and ".view(" in line:
        return ("numpy's .view() reinterprets the dtype: x.reshape(shape) is numpy's "
                "x.view(shape)")
    if exc_type == "TypeError" and "'int' object is not callable" in message and ".size(" in line:
        return ("x.shape[0] is numpy's x.size(0) (numpy's x.size is the number of elements)")
    if exc_type == "TypeError" and "'tuple' object is not callable" in message and (
            ".shape(" in line):
        return "x.shape is a tuple, not a method: x.shape[1], not x.shape(1)"
    if exc_type == "TypeError" and re.search(r"\)\s*,\s*sum\(", line):
        return "a comma where a dot belongs: (...).sum(0), not (...),sum(0) (python's own sum)"
    m = re.search(r"name '(\w+)' is not defined", message)
    if exc_type == "NameError" and m and m.group(1) in ("torch", "F"):
        if m.group(1) == "F":
            called = re.search(r"\bF\.(\w+)", line)
            return FUNCTIONAL.get(called.group(1) if called else "",
                                  "F (torch.nn.functional) is not here: the arrays are numpy "
                                  "(np.exp, np.eye(k)[ix] for a one-hot, ...)")
        called = re.search(r"\btorch\.(\w+)", line)
        if called and hasattr(np, called.group(1)):
            name = called.group(1)
            return f"np.{name} is numpy's torch.{name}; there is no torch here"
        return TORCH
    m = re.match(r"(\w+)\(\): argument '\w+' \(position \d+\) must be Tensor, not numpy", message)
    if exc_type == "TypeError" and m:
        name = m.group(1)
        numpy_name = FUNCTIONAL.get(name) or (f"np.{name}" if hasattr(np, name) else "numpy")
        return (f"a torch function on a numpy array: the arrays here are numpy; "
                f"use {numpy_name}")
    return ""
