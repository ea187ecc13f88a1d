"""`python -m tocsin` runs the CLI."""

from tocsin.cli.main import main

main()
