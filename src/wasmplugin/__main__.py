import sys

from wasmplugin.cli.main import main

sys.exit(main())
