"""The one error type for user mistakes.

Lower floors raise NpbackpropError with a message fit to show a user (what was
wrong and what to do); the command line prints it on one line and exits
non-zero. Anything else that escapes is a bug and keeps its traceback.
"""


class NpbackpropError(Exception):
    """A user mistake or an unusable input, with a message fit to show."""

    exit_code = 2
