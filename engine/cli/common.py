"""What every `tlsrpt` command shares: exit statuses, usage errors, reading the configuration,
`--var`, `--now`, `--db`."""

from __future__ import annotations

import argparse
import difflib
import json
import os
import sys
from typing import TYPE_CHECKING, Any

from engine import log
from engine._bounded_io import MAX_CONFIG_BYTES, InputTooLarge, read_bounded, read_file_bounded
from engine.errors import ConfigError, Severity

if TYPE_CHECKING:
    from engine.config.config import Config

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2

DEFAULT_DB = "tlsrpt.db"


class UsageError(Exception):
    """Bad command-line input or unreadable files: exit status 2."""


def color(stream: Any) -> bool:
    # no-color.org: a NO_COLOR that is present and not empty turns colour off.
    return bool(getattr(stream, "isatty", lambda: False)()) and not os.environ.get("NO_COLOR")


def read_config(path: str) -> Config:
    from engine.config.config import load_config  # not at import: `--help` needs none of it

    if path != "-" and not os.path.isfile(path):
        raise UsageError(f"cannot read {path}: no such file")
    if path == "-":
        return load_config(read_stdin_text("standard input"))
    try:
        return load_config(os.fspath(path))
    except ConfigError as err:
        if err.unreadable:
            raise UsageError(f"cannot read {path}: {err.diagnostics[0].message}") from None
        raise


def read_reporting_config(path: str) -> Config:
    """The configuration of a command that reports (`record`, `report`, `serve`, `collect`,
    `analyze`): it must lint without errors, since a mistake there would otherwise only show
    in reports sent hours later (or never). Raises ConfigError listing every lint error; logs
    each unknown report.* key (W404) and each ignored signature key (W507, W508) as a warning,
    since the setting keeps its default and the signer does not do what the key asks."""
    from engine.lint.check import lint_file, lint_text

    config = read_config(path)
    if config.file is not None and os.path.isfile(config.file):
        found, _ = lint_file(config.file)
    else:
        found = lint_text(config.text, config.file)
    errors = [d for d in found if d.severity is Severity.ERROR]
    if errors:
        raise ConfigError(errors)
    for diagnostic in found:
        if diagnostic.code == "W404":
            log.warning("unknown-setting", key=diagnostic.key, at=diagnostic.location(),
                        message=diagnostic.message, effect="ignored; the setting keeps its "
                        "default")
        elif diagnostic.code in ("W507", "W508"):  # signature keys the signer cannot honour
            log.warning("ignored-signature-key", key=diagnostic.key,
                        at=diagnostic.location(), message=diagnostic.message)
    return config


def read_stdin_text(what: str, limit: int = MAX_CONFIG_BYTES) -> str:
    """Standard input as UTF-8 text, refused past `limit` bytes while it is read."""
    try:
        data = read_bounded(sys.stdin.buffer, limit, what)
    except InputTooLarge as err:
        raise UsageError(f"cannot read -: {err}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise UsageError(f"cannot read -: not valid UTF-8 (byte {err.start})") from None


def read_text_file(path: str, limit: int = MAX_CONFIG_BYTES) -> str | None:
    """A regular file of at most `limit` bytes as text (bad bytes replaced), else None."""
    try:
        return read_file_bounded(path, limit).decode("utf-8", errors="replace")
    except (OSError, InputTooLarge):
        return None


def parse_var(text: str) -> tuple[str, Any]:
    """`NAME=TEXT` gives a string; `NAME:=JSON` a typed value (`retry_num:=3`, `r:=["a"]`)."""
    if ":=" in text:
        name, _, raw = text.partition(":=")
        try:
            return name, json.loads(raw)
        except json.JSONDecodeError as err:
            raise UsageError(f"--var {text}: not JSON ({err.msg})") from None
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise UsageError(f"--var {text}: expected NAME=VALUE or NAME:=JSON")
    return name, value


def parse_vars(items: list[str]) -> dict[str, Any]:
    """Every `--var`, by name; a name that is no Stalwart variable (nor a `$GLOBAL`) is a usage
    error with the closest name, since the setting would silently see '' instead."""
    from engine.expr.scope import STALWART_VARIABLES

    found = dict(parse_var(item) for item in items)
    for name in found:
        if not name.startswith("$") and name not in STALWART_VARIABLES:
            close = difflib.get_close_matches(name, STALWART_VARIABLES, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise UsageError(f"--var {name}: unknown variable{hint}")
    return found


def show(value: Any) -> str:
    if value is None:
        return "(no value)"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def parse_time(text: str | None) -> int:
    """`--now`: Unix seconds or an RFC 3339 date-time (UTC when no offset is given)."""
    import datetime
    import time

    if text is None:
        return int(time.time())
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise UsageError(f"--now {text}: expected Unix seconds or a date-time such as "
                          "2024-05-07T12:00:00Z") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return int(moment.timestamp())


def database_path(args: argparse.Namespace, config: Config) -> str:
    """--db, else the configuration's report.store.path, else tlsrpt.db here."""
    return str(args.db or config.values.get("report.store.path") or DEFAULT_DB)


def print_line(line: str) -> None:
    print(line, flush=True)


def jsonable(value: Any) -> Any:
    return int(value) if isinstance(value, int) else value


def db_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", help="event store file (default: report.store.path, else "
                                     f"{DEFAULT_DB})")


def store_options(parser: argparse.ArgumentParser, now_help: str) -> None:
    db_option(parser)
    parser.add_argument("--now", help=now_help + "; Unix seconds or RFC 3339")


def var_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                        help="a variable as text (NAME=VALUE) or JSON (NAME:=JSON); "
                             "repeatable; globals are $NAME")
