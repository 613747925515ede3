"""The ``advisor`` command installed by the wheel: the same command as the Rust binary."""

import sys

from . import _native


def main():
    """Runs ``advisor`` with this process's arguments and exits with its status."""
    sys.exit(_native.run_cli(["advisor", *sys.argv[1:]]))
