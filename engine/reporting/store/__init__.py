"""The store: the interface the rest of the reporting core speaks (`interface`) and its
backends (`sqlite/`). Only this package knows a database exists: nothing outside it imports a
database driver or writes SQL."""
