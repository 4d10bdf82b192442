"""How the recipes read their settings (flags, optionally from a YAML file) and how they end: one
clear line for a user's error, the traceback only under --debug."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import yaml

from .errors import USER_ERRORS, ConfigError


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """The module docstring as written, and each flag's default in its help (where it has one)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (
            action.default not in (None, False, argparse.SUPPRESS)
            and "%(default)" not in text
            and action.option_strings
        ):
            text += " (default: %(default)s)"
        return text


def run_cli(main: Callable[[Sequence[str]], object], argv: Sequence[str]) -> None:
    """Run a recipe's `main(argv)`; a user error prints `error: ...` and exits with status 2."""
    if "--debug" in argv:
        main(argv)
        return
    try:
        main(argv)
    except USER_ERRORS as error:
        print(f"error: {error}\n(run with --debug for the traceback)", file=sys.stderr)
        sys.exit(2)


def parse_args_with_config(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse `argv`, taking defaults from the YAML file of `--config` first (its keys are the flags'
    names, `max_tokens` or `max-tokens`): the file holds a run's settings, the command line overrides
    them. The file's values go through the flags' own types and choices, so a bad value is reported
    like a bad flag; an unknown key is an error that lists the known ones."""
    parser.add_argument(
        "--config", default=None, help="a YAML file of these settings (keys: the flags' names); flags given override it"
    )
    argv = list(sys.argv[1:] if argv is None else argv)
    finder = argparse.ArgumentParser(add_help=False)  # only to find --config, in any of argparse's spellings
    finder.add_argument("--config")
    config_path = finder.parse_known_args(argv)[0].config
    if config_path is None:
        return parser.parse_args(argv)
    if not os.path.isfile(config_path):
        raise FileNotFoundError(f"--config {config_path!r}: no such file")
    values = yaml.safe_load(Path(config_path).read_text(encoding="utf-8")) or {}
    if not isinstance(values, dict):
        raise ConfigError(
            [f"{config_path} must hold a mapping of settings (flag names to values), not {type(values).__name__}"],
            config_path,
        )
    actions = {
        action.dest: action
        for action in parser._actions
        if action.option_strings and action.dest not in ("help", "config")
    }
    tokens, problems = [], []
    for key, value in values.items():
        action = actions.get(str(key).replace("-", "_"))
        if action is None:
            problems.append(f"unknown key {key!r}; known: {sorted(actions)}")
            continue
        flag = action.option_strings[-1]
        if isinstance(action, argparse._StoreTrueAction):
            if not isinstance(value, bool):
                problems.append(f"{key}: {value!r}; use true or false")
            elif value:
                tokens.append(flag)
        elif isinstance(value, list):
            tokens += [flag, *map(str, value)]
        elif isinstance(value, dict):  # e.g. latent_temperature: {document: 0.8} for --latent-temperature document=0.8
            tokens += [flag, *(f"{k}={v}" for k, v in value.items())]
        else:
            tokens += [flag, str(value)]
    if problems:
        raise ConfigError(problems, config_path)
    return parser.parse_args(tokens + argv)  # later flags win: the command line overrides the file
