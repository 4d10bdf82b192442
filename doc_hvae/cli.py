"""How the recipes end: one clear line for a user's error, the traceback only under --debug."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from .config_loading import ConfigError
from .trainer import TrainingError

# Errors that the library raises for bad input, with a message that names the value and the fix;
# anything else is a bug and keeps its traceback.
USER_ERRORS = (ConfigError, ValueError, OSError, UnicodeError)  # OSError covers missing files and folders


def run_cli(main: Callable[[Sequence[str]], object], argv: Sequence[str]) -> None:
    """Run a recipe's `main(argv)`; a user error prints `error: ...` and exits with status 2."""
    if "--debug" in argv:
        main(argv)
        return
    try:
        main(argv)
    except (*USER_ERRORS, TrainingError) as error:
        print(f"error: {error}\n(run with --debug for the traceback)", file=sys.stderr)
        sys.exit(2)
