"""The store: the protocols the rest of the reporting core speaks (`interface`), the records
that cross them (`ledger`, `reports`), the one place that picks a backend (`open`), and the
backends (`sqlite/`). Only this package knows a database exists: nothing outside it imports a
database driver, writes SQL or names a backend."""
