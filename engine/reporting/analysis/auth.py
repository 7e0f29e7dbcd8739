"""Authentication of emailed reports (spec/reporting.md 7.6): which DKIM signatures verify,
whether one is aligned with the TLS-Report-Submitter, and what that means for the report.

RFC 8460 3: a report received by email without a valid DKIM signature MUST be ignored, so
`require_dkim` is on by default; turning it off keeps such reports with an "unauthenticated"
warning instead. Reports that are not emails (a bare JSON, gzip or zip file) carry no
signature: whoever hands them over vouches for them, as the HTTPS endpoint does (7.6).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

DnsFunc = Callable[..., bytes | None]

#: signatures checked per message, topmost first (RFC 6376 6.1 allows a limit): each one whose
#: key the sender serves makes dkimpy hash the whole body again, so hundreds of them in one
#: message would cost minutes; honest senders add one or two
MAX_SIGNATURES: Final = 10


@dataclass(frozen=True, slots=True)
class Authentication:
    """What an emailed report needs to be accepted (`report.analysis.require-*`)."""

    require_dkim: bool = True             # reject (AUTH_FAILED) without a verifying signature
    require_aligned: bool = False         # ... whose d= is the submitter's domain or a parent
    require_tlsrpt_service: bool = False  # dkimpy's strict mode: keys must say s=tlsrpt


@dataclass(frozen=True, slots=True)
class DkimOutcome:
    """The DKIM signatures of one message, topmost first, and the verdict on them."""

    signatures: tuple[tuple[str | None, bool], ...]   # (d=, verified)
    submitter: str | None                             # TLS-Report-Submitter, lower case
    problem: str | None                               # None when authenticated

    @property
    def verified(self) -> tuple[bool, ...]:
        return tuple(ok for _, ok in self.signatures)

    @property
    def passing_domains(self) -> tuple[str, ...]:
        return tuple(domain for domain, ok in self.signatures if ok and domain)

    @property
    def result(self) -> str:
        """`pass` (a signature verifies), `fail` or `none` (no signature): the DKIM result the
        store keeps (spec 7.8); alignment is `aligned`, and `problem` says what is missing."""
        if not self.signatures:
            return "none"
        return "pass" if any(self.verified) else "fail"

    @property
    def aligned(self) -> bool:
        return any(aligned(domain, self.submitter) for domain in self.passing_domains)


def aligned(signing_domain: str, submitter: str | None) -> bool:
    """Spec 7.6: d= equals the TLS-Report-Submitter domain or is a parent domain of it."""
    if not submitter:
        return False
    domain = signing_domain.lower().rstrip(".")
    return submitter == domain or submitter.endswith("." + domain)


def authenticate(message: bytes, submitter: str | None, auth: Authentication,
                 dnsfunc: DnsFunc | None) -> DkimOutcome:
    """Verify every DKIM-Signature of `message` (DNS through `dnsfunc`, the system resolver
    when None) and say what, if anything, is missing for `auth`."""
    from engine.reporting.sign import system_dnsfunc, verify_signatures

    mode: bool | str = "strict" if auth.require_tlsrpt_service else True
    signatures = tuple(verify_signatures(
        message, dnsfunc if dnsfunc is not None else system_dnsfunc(), tlsrpt=mode,
        most=MAX_SIGNATURES))
    submitter = submitter.strip().lower().rstrip(".") if submitter else None
    problem: str | None = None
    if not signatures:
        problem = "no DKIM-Signature"
    elif not any(ok for _, ok in signatures):
        problem = f"none of {len(signatures)} DKIM signatures verifies" + (
            f" (only the topmost {MAX_SIGNATURES} are checked)"
            if len(signatures) > MAX_SIGNATURES else "")
    elif auth.require_aligned and not any(
            ok and domain and aligned(domain, submitter) for domain, ok in signatures):
        passing = ", ".join(domain for domain, ok in signatures if ok and domain)
        problem = (f"no verifying signature is aligned: d={passing} vs TLS-Report-Submitter "
                   f"{submitter or '(missing)'}")
    return DkimOutcome(signatures, submitter, problem)
