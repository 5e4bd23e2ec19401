"""The command line's one error runner and its printer, below every command module.

    sys.exit(run(handler, args, "npbackprop train"))

A user mistake (NpbackpropError) becomes one line on stderr and its exit
code; Ctrl-C becomes "interrupted" and 130; anything else is a bug and keeps
its traceback. cli.py, check/command.py and bench/command.py all use it.
"""

import sys

from npbackprop.errors import NpbackpropError


def say(message):
    """Print one message to stdout at once (progress must show while training)."""
    print(message, flush=True)


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
