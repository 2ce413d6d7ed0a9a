"""`python -m desktop` and the `celery-desk` script: the command line in `desktop.cli`."""

from desktop.cli import main

if __name__ == "__main__":
    main()
