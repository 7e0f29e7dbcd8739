"""What each RFC 8460 result type usually means for the receiving side, and what to check:
the plain-language lines of `tlsrpt analyze`."""

from __future__ import annotations

from typing import Final

RESULT_TYPE_ADVICE: Final = {
    "starttls-not-supported": "The sender could not start TLS: the MX did not offer STARTTLS or "
                              "refused it. Check that every MX announces STARTTLS.",
    "certificate-host-mismatch": "The MX presented a certificate that does not name the MX host. "
                                 "Check the certificate's names against your MX records "
                                 "(and the MTA-STS policy's mx patterns).",
    "certificate-expired": "The MX presented an expired certificate. Renew it, and check that "
                           "every MX serves the renewed one.",
    "certificate-not-trusted": "The certificate chain could not be verified (unknown CA, "
                               "missing intermediate). Serve the full chain from a public CA.",
    "validation-failure": "A TLS or policy validation failed for another reason; the "
                          "failure-reason-code usually says which.",
    "tlsa-invalid": "The DANE TLSA records match no certificate in use. Update the TLSA "
                    "records before or together with certificate changes.",
    "dnssec-invalid": "DNSSEC validation of your records failed. Check the DNSSEC chain of the "
                      "MX host's zone.",
    "dane-required": "The sender requires DANE but found no valid TLSA records for the MX.",
    "sts-policy-fetch-error": "The MTA-STS policy could not be fetched from "
                              "https://mta-sts.<domain>/.well-known/mta-sts.txt. Check that "
                              "host, its certificate and the file.",
    "sts-policy-invalid": "The MTA-STS policy file is not valid (syntax, version, mode, "
                          "max_age). Check it against RFC 8461.",
    "sts-webpki-invalid": "The certificate of the mta-sts host failed validation. Renew or fix "
                          "its chain.",
}


def advice(result_type: str) -> str:
    return RESULT_TYPE_ADVICE.get(result_type, "A result type this tool does not know; see the "
                                               "reporting organisation's documentation.")
