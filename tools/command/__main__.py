import sys

from tools.command.cli import main

sys.exit(main())
