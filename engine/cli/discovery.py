"""Where a command finds its configuration: CONFIG or `--config`, else `$TLSRPT_CONFIG`, else
the default path.

The rule for positional arguments (also in --help and docs/configuration.md): CONFIG is the
first positional argument when a command is given more positional arguments than its other
arguments need; with `--config PATH` every positional argument belongs to the others. So
`tlsrpt evaluate CONFIG KEY` and `tlsrpt evaluate KEY` both work, `tlsrpt record CONFIG` reads
standard input as before, and `tlsrpt test T1 T2` takes T1 as CONFIG: name the configuration
with --config to run several test files against a found one.

Commands declare their `config` positional as before; `install` makes it optional, adds
`--config` and records the layout, and `resolve` fills `args.config` after parsing. Subcommand
parsers parse intermixed (`CommandParser`), so `tlsrpt evaluate CONFIG --var x=1 KEY` keeps
working now that CONFIG may be left out.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from engine.cli.common import UsageError

#: the environment variable that names the configuration file
ENV_VAR: Final = "TLSRPT_CONFIG"
#: where a packaged install keeps it (docs/configuration.md); a module attribute so tests move it
DEFAULT_CONFIG = "/etc/tlsrpt/tlsrpt.toml"

RULE: Final = ("CONFIG is the first positional argument when a command is given more "
               "positional arguments than its other arguments need; with --config PATH every "
               "positional argument belongs to the others. Without either, $" + ENV_VAR +
               " names the file, else " + "{default}" + " is read.")

_FLAG_DEST: Final = "config_option"


class CommandParser(argparse.ArgumentParser):
    """A subcommand's parser: optionals may stand between positionals even when an optional
    positional (CONFIG) comes first, which plain argparse parsing gets wrong."""

    _intermixing = False

    def parse_known_args(  # type: ignore[override]
            self, args: Sequence[str] | None = None,
            namespace: argparse.Namespace | None = None) -> tuple[argparse.Namespace, list[str]]:
        if self._intermixing:  # the two passes of parse_known_intermixed_args come back here
            return super().parse_known_args(args, namespace)
        self._intermixing = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixing = False


@dataclass(frozen=True, slots=True)
class _Layout:
    command: str
    many: bool                      # lint: CONFIG... (a list)
    optional: bool                  # analyze: no configuration is fine
    others: tuple[tuple[str, Any], ...]   # (dest, nargs) of the positionals after CONFIG
    flag_dest: str                  # where --config is stored


def install(commands: Any) -> None:
    """Make every command's CONFIG discoverable; `commands` is the subparsers action."""
    for name, parser in commands.choices.items():
        positionals = [a for a in parser._actions if not a.option_strings]
        config = next((a for a in positionals if a.dest == "config"), None)
        flag = parser._option_string_actions.get("--config")
        if config is None and flag is None:
            continue
        default_help = f"default: --config, ${ENV_VAR}, else {DEFAULT_CONFIG}"
        if config is not None:
            many = config.nargs in ("*", "+")
            config.nargs = "*" if many else "?"
            config.help = f"{config.help}; {default_help}"
            others = positionals[positionals.index(config) + 1:]
            if flag is None:
                flag = parser.add_argument(
                    "--config", dest=_FLAG_DEST, metavar="PATH",
                    help="configuration file, instead of the positional CONFIG")
        else:  # only --config (analyze): the configuration is optional there
            many, others = False, []
            assert flag is not None
            flag.help = f"{flag.help} ({default_help}, when it exists)"
        parser.set_defaults(_config_layout=_Layout(
            name, many, config is None, tuple((a.dest, a.nargs) for a in others), flag.dest))
        parser.epilog = (parser.epilog + "\n\n" if parser.epilog else "") + \
            RULE.format(default=DEFAULT_CONFIG)


def resolve(args: argparse.Namespace) -> None:
    """Fill `args.config` (a path, or a list for lint) from the command line, the environment
    or the default path; a UsageError says where it looked when nothing is found."""
    layout: _Layout | None = getattr(args, "_config_layout", None)
    if layout is None:
        return
    flag = getattr(args, layout.flag_dest, None)
    if layout.optional:
        args.config = flag or _found(optional=True)
        return
    if flag is not None and layout.flag_dest != "config":
        if layout.many:
            args.config = [*args.config, flag]
            return
        _shift(args, layout, flag)
        args.config = flag
        return
    if layout.many:  # lint; `lint --explain CODE` reads no configuration
        if not args.config and not getattr(args, "explain", None):
            args.config = [_found(optional=False)]
    elif args.config is None:
        args.config = _found(optional=False)


def _shift(args: argparse.Namespace, layout: _Layout, flag: str) -> None:
    """With --config, what argparse put into CONFIG belongs to the positionals after it."""
    if args.config is None:
        return
    pool = [args.config]
    for dest, _ in layout.others:
        value = getattr(args, dest)
        pool.extend(value if isinstance(value, list) else [] if value is None else [value])
    for index, (dest, nargs) in enumerate(layout.others):
        needed_later = sum(1 for _, later in layout.others[index + 1:] if later in (None, "+"))
        free = len(pool) - needed_later
        if nargs in ("*", "+"):
            setattr(args, dest, pool[:free])
            pool = pool[free:]
        elif nargs is None or free > 0:
            setattr(args, dest, pool.pop(0))
    if pool:
        raise UsageError(f"{layout.command}: unexpected argument {pool[0]} (the configuration "
                         f"is already given by --config {flag})")


def _found(optional: bool) -> str | None:
    named = os.environ.get(ENV_VAR)
    if named:
        if named != "-" and not os.path.isfile(named):
            raise UsageError(f"cannot read {named} (named by ${ENV_VAR}): no such file")
        return named
    if os.path.isfile(DEFAULT_CONFIG):
        return DEFAULT_CONFIG
    if optional:
        return None
    raise UsageError(f"no configuration file: none named (CONFIG or --config), ${ENV_VAR} is "
                     f"not set, and {DEFAULT_CONFIG} does not exist")
