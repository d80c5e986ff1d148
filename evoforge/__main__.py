"""``python -m evoforge``: the command line, as ``evoforge``."""

from evoforge.cli import main

main()
