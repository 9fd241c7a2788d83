"""`python -m maskedit`, the same as the `maskedit` command."""

from maskedit.cli import main

main()
