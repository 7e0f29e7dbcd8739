"""`tlsrpt collect`: listen for libtlsrpt datagrams (Postfix) and store their events.

The command only wires things up: settings from `collector.*` and the flags, the socket, the
store, the signal handlers. The work is engine.reporting.intake.collector's.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from engine.cli.common import (EXIT_FINDINGS, EXIT_OK, UsageError, database_path, db_option,
                               read_reporting_config)

def command_collect(args: argparse.Namespace) -> int:
    import signal

    from engine.reporting.intake.collector import (Collector, CollectorError, DatagramSocket,
                                          settings_from_values)
    from engine.reporting.store.open import open_event_store

    config = read_reporting_config(args.config)
    try:
        settings = settings_from_values(
            config.values, socket=args.socket, owner=args.owner, group=args.group,
            mode=args.mode, max_datagram=args.max_datagram, batch_size=args.batch_size,
            batch_interval=args.batch_interval)
    except ValueError as err:
        raise UsageError(str(err)) from None
    database = database_path(args, config)
    try:
        datagrams = DatagramSocket(settings)
    except (CollectorError, OSError) as err:
        raise UsageError(f"cannot listen on {settings.socket}: {err}") from None
    try:
        with open_event_store(database) as store:
            collector = Collector(config, store, datagrams, settings,
                                  reload_config=lambda: read_reporting_config(args.config))

            def on_stop(signum: int, frame: Any) -> None:
                collector.request_stop()

            def on_reload(signum: int, frame: Any) -> None:
                collector.request_reload()

            signal.signal(signal.SIGTERM, on_stop)
            signal.signal(signal.SIGINT, on_stop)
            if hasattr(signal, "SIGHUP"):
                signal.signal(signal.SIGHUP, on_reload)
            print(f"tlsrpt collect: socket {settings.socket}, store {database}; running until "
                  "SIGTERM or SIGINT", file=sys.stderr, flush=True)
            counters = collector.run()
    finally:
        datagrams.close()
    dropped = sum(counters.dropped.values())
    print(f"tlsrpt collect: stopped; {counters.received} datagrams received, "
          f"{counters.events_stored} events stored, {dropped} dropped, "
          f"{counters.truncated} truncated, {counters.queue_overflow} lost to a full queue",
          file=sys.stderr, flush=True)
    return EXIT_FINDINGS if collector.receive_error is not None else EXIT_OK


def register(commands: Any) -> None:
    collect = commands.add_parser(
        "collect", help="receive libtlsrpt datagrams (Postfix) into the event store",
        description="Listen on a Unix datagram socket for the TLS outcomes that Postfix "
                    "sends through libtlsrpt (as to tlsrpt-reporter's tlsrpt-collectd), and "
                    "store them as events for `tlsrpt report` and `tlsrpt serve`. Malformed "
                    "datagrams are counted and logged, never fatal. SIGTERM or SIGINT stop it "
                    "after storing everything received; SIGHUP reloads CONFIG (frequencies). "
                    "See docs/postfix.md.")
    collect.add_argument("config", metavar="CONFIG", help="configuration file")
    collect.add_argument("--socket", metavar="PATH",
                         help="socket to listen on (default: collector.socket)")
    collect.add_argument("--owner", metavar="USER",
                         help="owner of the socket file (default: collector.owner)")
    collect.add_argument("--group", metavar="GROUP",
                         help="group of the socket file (default: collector.group)")
    collect.add_argument("--mode", metavar="OCTAL",
                         help="permissions of the socket file (default: collector.mode, "
                              "else 0660)")
    db_option(collect)
    collect.add_argument("--max-datagram", metavar="BYTES",
                         help="largest datagram accepted (default: collector.max-datagram, "
                              "else 1048576)")
    collect.add_argument("--batch-size", metavar="N",
                         help="most datagrams per commit (default: collector.batch-size, "
                              "else 1000)")
    collect.add_argument("--batch-interval", metavar="MS",
                         help="longest wait before a commit, in milliseconds (default: "
                              "collector.batch-interval, else 200)")
    collect.set_defaults(handler=command_collect)
