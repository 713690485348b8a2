import sys

from genpt.cli import main

sys.exit(main())
