"""TLS outcomes in: untrusted events normalised (`normalise`), read from JSON Lines (`jsonl`,
`tlsrpt record`) and from Postfix's libtlsrpt datagrams (`datagram`, `receiver`,
`collector`, `tlsrpt collect`), and handed to the store."""
