"""The errors a user's input can cause, each with a message that names the value and the fix.

The recipes print these as one line (`cli.run_cli`); anything else is a bug and keeps its traceback.
A light module: the CLI and `import doc_hvae` reach it without the training stack.
"""

from __future__ import annotations


class ConfigError(ValueError):
    """Every problem found in a config, one per line."""

    def __init__(self, problems: list[str], source: str = "config"):
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s) in {source}:\n" + "\n".join(f"  - {p}" for p in problems))


class TrainingError(RuntimeError):
    """A run that cannot go on (bad launch, bad data folder, too many skipped updates): one clear line."""


# What the library raises for bad input. OSError covers missing files and folders; a ValueError's
# message names the value (the library raises no bare ValueError for its own bugs).
USER_ERRORS = (ConfigError, TrainingError, ValueError, OSError, UnicodeError)
