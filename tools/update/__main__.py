import sys

from tools.update.cli import main

sys.exit(main())
