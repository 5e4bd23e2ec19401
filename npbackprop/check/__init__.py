"""npbackprop.check: the lecture's gradient table, and a grader for a learner's backward.

    from npbackprop.check import make_setup, check_builtin, grade, template
    print(grade("mine.py:backward", 1, make_setup()).text())

An application on the core, never imported by it: setups.py (the batch and
its reference gradients), grader.py (each exercise), report.py (rows and
text), diagnose.py (why a row is wrong), learner.py (a learner's file),
fixture.py (the committed torch reference beside it), backprop_template.py
(the learner's starting file) and command.py (`npbackprop check`).
"""

from npbackprop.check.grader import check_builtin, grade
from npbackprop.check.learner import template
from npbackprop.check.setups import make_setup

__all__ = ["check_builtin", "grade", "make_setup", "template"]
