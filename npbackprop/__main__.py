import sys

from npbackprop.cli import main

sys.exit(main())
