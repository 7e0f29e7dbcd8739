"""The reporting core: TLS outcomes in, RFC 8460 reports out. It consumes resolved,
typed settings from `engine.config` and never sees an expression."""
