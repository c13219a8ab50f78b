import multiprocessing
import sys

from app.cli import main

if __name__ == "__main__":  # also imported by the simulated patients' renderer process (spawned)
    multiprocessing.freeze_support()  # the bundle runs that process from its own executable
    sys.exit(main())
