"""Entry point for `python -m nivalis` (used by `torchrun -m nivalis ...`)."""

from nivalis.cli.app import main

main()
