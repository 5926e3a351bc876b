import sys

from tools.headend.cli import main

sys.exit(main())
