"""`python -m maskedit`, the same as the `maskedit` command."""

from maskedit.cli import main

if __name__ == "__main__":  # imported (pydoc, a tool that walks the package): nothing runs
    main()
