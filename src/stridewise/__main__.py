"""`python -m stridewise` runs the command line."""

from stridewise.cli import main

main()
