import sys

from nbsupport.cli import main

# Guarded so a worker process started with "spawn" does not re-run the whole command.
if __name__ == "__main__":
    sys.exit(main())
