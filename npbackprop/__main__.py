"""`npbackprop` and `python -m npbackprop`: the command line, started with care.

Ctrl-C while numpy and the command line load (or the flags are read) must be
an "interrupted" line, not a traceback: a KeyboardInterrupt raised inside an
import can surface as an ImportError from numpy's C extensions, or as an
"Exception ignored" report. So until the command starts, SIGINT is only
noted, and acted on once the loading is done.
"""

import signal
import sys
import threading


def main(argv=None):
    if threading.current_thread() is not threading.main_thread():
        from npbackprop import cli  # only the main thread receives signals
        return cli.main(argv)
    interrupted = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: interrupted.append(signum))
    try:
        from npbackprop import cli
        args = cli.build_parser().parse_args(argv)
    finally:
        signal.signal(signal.SIGINT, previous)
    if interrupted:
        print("npbackprop: interrupted", file=sys.stderr)
        return 130
    return cli.run_command(args)


if __name__ == "__main__":
    sys.exit(main())
