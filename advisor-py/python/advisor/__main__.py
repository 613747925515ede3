"""``python -m advisor ...`` runs the ``advisor`` command."""

from ._cli import main

main()
