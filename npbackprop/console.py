"""The command line's one error runner and its printer, below every command module.

    sys.exit(run(handler, args, "npbackprop train"))

A user mistake (NpbackpropError) becomes one line on stderr and its exit
code; Ctrl-C becomes "interrupted" and 130; MemoryError a line saying so;
anything else is a bug and keeps its traceback. A closed stdout (`| head`)
is not an error: output stops, the work goes on. cli.py, check/command.py
and bench/command.py all use it, and HelpFormatter for their --help.
"""

import argparse
import os
import sys

from npbackprop.errors import NpbackpropError


class HelpFormatter(argparse.HelpFormatter):
    """--help with each flag's default said once, and only when it has one: not for a flag
    without one (None, an on/off switch) nor where the help text already says it."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if ("default" in text or default is None or default is False
                or default is argparse.SUPPRESS or not action.option_strings):
            return text
        return f"{text} (default: %(default)s)"


def _stdout_closed():
    # the reader went away: send the rest of the output nowhere, so that neither this
    # process's later prints nor its exit-time flush fail
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def say(message):
    """Print one message to stdout at once (progress must show while training)."""
    try:
        print(message, flush=True)
    except BrokenPipeError:
        _stdout_closed()


def run(handler, args, prog):
    """Call handler(args) -> exit code, turning user mistakes into one line."""
    try:
        return handler(args)
    except NpbackpropError as e:
        message = " ".join(str(e).split())  # one line, whatever the message held
        print(f"{prog}: error: {message}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print(f"{prog}: error: out of memory (the sizes asked for are too big for this "
              f"machine)", file=sys.stderr)
        return 1
    except BrokenPipeError:
        _stdout_closed()
        return 0

