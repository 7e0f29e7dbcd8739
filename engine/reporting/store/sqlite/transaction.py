"""One SQLite transaction as a `with` block, and what the ledger needs of the connection owner."""

from __future__ import annotations

import sqlite3
from types import TracebackType
from typing import Protocol

__all__ = ["Database", "Transaction"]


class Database(Protocol):
    """An open SQLite database in autocommit mode whose users open their own transactions."""

    @property
    def connection(self) -> sqlite3.Connection:
        ...

    def transaction(self) -> Transaction:
        """`with db.transaction() as connection:` -- one write transaction."""
        ...

    def snapshot(self) -> Transaction:
        """`with db.snapshot() as connection:` -- one consistent read transaction."""
        ...


class Transaction:
    """`with` block = one transaction: COMMIT on success, ROLLBACK on any exception."""

    def __init__(self, connection: sqlite3.Connection, begin: str) -> None:
        self._connection = connection
        self._begin = begin

    def __enter__(self) -> sqlite3.Connection:
        self._connection.execute(self._begin)
        return self._connection

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if exc_type is None:
            try:
                self._connection.execute("COMMIT")
                return
            except BaseException:
                self._rollback()
                raise
        self._rollback()

    def _rollback(self) -> None:
        # Some errors (a full disk, an I/O error) make SQLite roll back on its own; a second
        # ROLLBACK would then fail and hide the original error.
        if self._connection.in_transaction:
            self._connection.execute("ROLLBACK")
