"""The embedded backend: one SQLite file (WAL) for the event counters and the delivery ledger,
and one for the analysis of incoming reports. `schema` holds every table and migration."""
