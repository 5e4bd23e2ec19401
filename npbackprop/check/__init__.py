"""npbackprop.check: the lecture's gradient table, and a grader for a learner's backward.

    from npbackprop.check import make_setup, check_builtin, grade, template
    print(grade("mine.py:backward", 1, make_setup()).text())
    globals().update(lecture_setup()); ...; grade_namespace(globals())   # notebook cells
    print(grade5_funcs(batchnorm3d_backward, flatten_backward).text())   # part 5's exercise

An application on the core, never imported by it: setups.py (the batch and
its reference gradients), grader.py (each exercise), report.py (rows and
text), diagnose.py (why a row is wrong), learner.py (a learner's file),
namespace.py (a learner's notebook cells), cells.py (a notebook file),
child.py (learner code in a child process), reference.py (complex steps),
shapes.py and values.py (what a returned value is), fixture.py (the
committed torch reference beside it), backprop_template.py (the learner's
starting file) and command.py (`npbackprop check`).
"""

from npbackprop.check.exercise5 import grade5_funcs
from npbackprop.check.grader import check_builtin
from npbackprop.check.learner import template
from npbackprop.check.namespace import grade, grade_namespace, lecture_setup
from npbackprop.check.setups import make_setup

__all__ = ["check_builtin", "grade", "grade5_funcs", "grade_namespace", "lecture_setup",
           "make_setup", "template"]
