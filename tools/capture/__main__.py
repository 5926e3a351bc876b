import sys

from tools.capture.cli import main

sys.exit(main())
