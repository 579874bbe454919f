"""Entry point for `python -m hardness`."""

from hardness.cli import main

main()
