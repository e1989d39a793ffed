import sys

from edgesdk.commands.cli import main

sys.exit(main())
