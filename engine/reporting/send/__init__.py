"""Our reports out: counts to RFC 8460 JSON (`build`), the one render path to a signed message
(`render`), destinations, delivery by mail and HTTPS (`deliver`), the scheduler that drives it
all against the delivery ledger (`scheduler`) and the dry run (`report`)."""
