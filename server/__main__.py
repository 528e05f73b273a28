"""`python -m server` is the `tenwatch` command."""

from server.cli import main

main()
