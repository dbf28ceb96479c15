import sys

from nbsupport.cli import main

sys.exit(main())
