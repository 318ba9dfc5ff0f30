"""``python -m prac`` (and ``torchrun -m prac``) runs the command line."""

from prac.cli import main

main()
