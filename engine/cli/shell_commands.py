"""`tlsrpt completion SHELL` and `tlsrpt man`: shell completion scripts (shtab) and man pages
(argparse-manpage), both made from the argument parser when asked, so that they cannot drift
from the commands. Neither library is needed to run tlsrpt: they are the `completion` and `man`
extras, and they are imported only here.
"""

from __future__ import annotations

import argparse
import os
from typing import Any, Final

from engine._version import __version__
from engine.cli.common import EXIT_OK, UsageError

SHELLS: Final = ("bash", "zsh", "fish")

#: metavars of arguments that name a file or a folder, completed as such
_FILE_METAVARS: Final = frozenset({"CONFIG", "FILE", "PATH", "TESTFILE", "DB", "TESTFILE[:NAME]"})
_DIR_METAVARS: Final = frozenset({"DIR"})


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The command parsers, by name, in --help's order."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _summaries(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Each command's one-line help, as `tlsrpt --help` lists it."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return {choice.dest: choice.help or "" for choice in action._choices_actions}
    return {}


def completion_script(shell: str, parser: argparse.ArgumentParser) -> str:
    """The completion script for `shell`, made by shtab from tlsrpt's parser."""
    try:
        import shtab
    except ImportError:
        raise UsageError("completion needs shtab: pip install 'tlsrpt-engine[completion]'") \
            from None
    for command in [parser, *subcommands(parser).values()]:
        for action in command._actions:
            metavar = action.metavar if isinstance(action.metavar, str) else None
            if metavar in _FILE_METAVARS:
                action.complete = shtab.FILE  # type: ignore[attr-defined]
            elif metavar in _DIR_METAVARS:
                action.complete = shtab.DIRECTORY  # type: ignore[attr-defined]
    return str(shtab.complete(parser, shell=shell))


def man_pages(version: str, parser: argparse.ArgumentParser) -> dict[str, str]:
    """File name -> roff text: tlsrpt.1 with every command, and tlsrpt-COMMAND.1 for each."""
    try:
        from argparse_manpage.manpage import Manpage
    except ImportError:
        raise UsageError("man needs argparse-manpage: pip install 'tlsrpt-engine[man]'") \
            from None
    pages = {"tlsrpt.1": _page(Manpage, parser, "tlsrpt", parser.description or "", version)}
    summaries = _summaries(parser)
    for name, command in subcommands(parser).items():
        summary = summaries.get(name, "")
        pages[f"tlsrpt-{name}.1"] = _page(Manpage, command, f"tlsrpt-{name}", summary, version)
    return pages


def _page(manpage: Any, parser: argparse.ArgumentParser, name: str, summary: str,
          version: str) -> str:
    page = manpage(parser)
    page.prog = name  # the title and NAME; the synopsis keeps `tlsrpt COMMAND`
    page.description = summary
    page.source = f"tlsrpt-engine {version}"
    page.manual = "tlsrpt-engine manual"
    return str(page)


def cmd_completion(args: argparse.Namespace) -> int:
    print(completion_script(args.shell, args.root_parser), end="")
    return EXIT_OK


def cmd_man(args: argparse.Namespace) -> int:
    pages = man_pages(__version__, args.root_parser)
    if args.out is None:
        print(pages["tlsrpt.1"], end="")
        return EXIT_OK
    try:
        os.makedirs(args.out, exist_ok=True)
        for file_name, text in pages.items():
            with open(os.path.join(args.out, file_name), "w", encoding="utf-8") as handle:
                handle.write(text)
    except OSError as err:
        raise UsageError(f"cannot write man pages to {args.out}: {err.strerror}") from None
    print(f"{len(pages)} man pages written to {args.out}")
    return EXIT_OK


def register(commands: Any) -> None:
    completion = commands.add_parser(
        "completion", help="print a shell completion script (bash, zsh, fish)",
        description="Print the completion script for SHELL, made from tlsrpt's own argument "
                    "parser (needs the `completion` extra, shtab). bash: "
                    "`tlsrpt completion bash > /etc/bash_completion.d/tlsrpt`; zsh: "
                    "`tlsrpt completion zsh > \"${fpath[1]}/_tlsrpt\"`; fish: "
                    "`tlsrpt completion fish > ~/.config/fish/completions/tlsrpt.fish`.")
    completion.add_argument("shell", choices=SHELLS, metavar="SHELL",
                            help="bash, zsh or fish")
    completion.set_defaults(handler=cmd_completion)

    man = commands.add_parser(
        "man", help="print or write the man pages",
        description="Print the tlsrpt(1) man page, made from tlsrpt's own argument parser "
                    "(needs the `man` extra, argparse-manpage); with --out, write tlsrpt.1 "
                    "and one tlsrpt-COMMAND.1 per command into DIR (for packages: "
                    "`tlsrpt man --out share/man/man1`).")
    man.add_argument("--out", metavar="DIR", help="folder to write the pages into")
    man.set_defaults(handler=cmd_man)
