import sys

from lossmath.cli import main

sys.exit(main())
