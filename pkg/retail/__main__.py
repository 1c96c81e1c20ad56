"""``python -m retail``: the same as the ``retail`` command."""

from retail.cli import main

main()
