"""The `tlsrpt` command (also `python -m engine`).

Exit status: 0 ok; 1 findings, failures or configuration errors; 2 usage errors or unreadable
input. Bad input never ends in a traceback: only `--verbose` shows one for internal errors.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence

from engine.cli import (analyze_command, author_commands, collect_command, config_commands,
                        discovery, reporting_commands, shell_commands)
from engine.cli.common import (EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, UsageError, color,
                               read_text_file)
from engine import log
from engine._version import __version__
from engine.errors import ConfigError, EngineError, UnknownSettingError
from engine.diagnostics.render_text import render_text

#: each command module adds its subcommands in `register(commands)`; the order is --help's
COMMAND_MODULES = (config_commands, author_commands, reporting_commands, collect_command,
                   analyze_command, shell_commands)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tlsrpt",
        description="Stalwart-style configuration expressions and SMTP TLS reporting "
                    "(RFC 8460).",
        epilog=discovery.RULE.format(default=discovery.DEFAULT_CONFIG))
    # the shell commands (completion, man) describe this very parser
    parser.set_defaults(root_parser=parser)
    parser.add_argument("--version", action="version", version=f"tlsrpt {__version__}")
    parser.add_argument("--verbose", action="store_true",
                        help="show a traceback for internal errors")
    _log_options(parser, default=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND",
                                     parser_class=discovery.CommandParser)

    for module in COMMAND_MODULES:
        module.register(commands)
    for command in commands.choices.values():  # also accepted after the command's name
        _log_options(command, default=False)
    discovery.install(commands)  # CONFIG, --config, $TLSRPT_CONFIG, the default path
    return parser


def _log_options(parser: argparse.ArgumentParser, default: bool) -> None:
    parser.add_argument("--log-level", choices=log.LEVELS,
                        default="warning" if default else argparse.SUPPRESS,
                        help="least severe log line written to standard error (default: "
                             "warning; info shows every action of report, serve and collect)")
    parser.add_argument("--log-format", choices=log.FORMATS,
                        default="text" if default else argparse.SUPPRESS,
                        help="log lines as key=value text (default) or JSON")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse exits 2 on usage errors, 0 on --help
        return int(exit_.code or 0)
    log.configure(args.log_level, args.log_format)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        discovery.resolve(args)
        return int(args.handler(args))
    except (UsageError, UnknownSettingError) as err:
        print(f"tlsrpt: {err}", file=sys.stderr)
        return EXIT_USAGE
    except ConfigError as err:
        sources = {d.file: _source_of(d.file, args) for d in err.diagnostics}
        sys.stderr.write(render_text(err.diagnostics, sources, color=color(sys.stderr)))
        return EXIT_FINDINGS
    except EngineError as err:
        print(f"tlsrpt: {err}", file=sys.stderr)
        return EXIT_FINDINGS
    except BrokenPipeError:  # `tlsrpt ... | head`: the reader has gone, which is fine
        sys.stderr.close()
        return EXIT_OK
    except Exception as err:  # noqa: BLE001 - the one place that reports internal errors
        print(f"tlsrpt: internal error: {type(err).__name__}: {err}", file=sys.stderr)
        if args.verbose:
            traceback.print_exc()
        return EXIT_USAGE


def _source_of(file: str | None, args: argparse.Namespace) -> str | None:
    path = file or getattr(args, "config", None)
    if path and path != "-" and os.path.isfile(path):
        return read_text_file(path)
    return None


if __name__ == "__main__":
    sys.exit(main())
