"""``python -m evoforge.cli``."""

from evoforge.cli import main

main()
