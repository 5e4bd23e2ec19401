"""`npbackprop` and `python -m npbackprop`: the command line, started with care.

The command line is imported inside main(), so that Ctrl-C while numpy loads
is an "interrupted" line, not a traceback.
"""

import sys


def main(argv=None):
    try:
        from npbackprop import cli
    except KeyboardInterrupt:
        print("npbackprop: interrupted", file=sys.stderr)
        return 130
    return cli.main(argv)


if __name__ == "__main__":
    sys.exit(main())
