"""`pii_mask`: replace email addresses, IP addresses and phone numbers with placeholders, counting each kind."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import ClassVar

import pyarrow as pa

from winnow.pipeline import schema
from winnow.pipeline.registry import register_stage
from winnow.pipeline.stage import DocumentFilter, StageParams

EMAIL_PLACEHOLDER = "<EMAIL>"
IP_PLACEHOLDER = "<IP>"
PHONE_PLACEHOLDER = "<PHONE>"

EMAIL_RE = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@"  # local part
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])"  # host names, a letters-only TLD
)
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"  # no leading zeros: "01.02.2023"-like strings are not addresses
IPV4_RE = re.compile(rf"(?<![\w.]){_OCTET}(?:\.{_OCTET}){{3}}(?!\w|\.\d)")
IPV6_RE = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?(?![\w:])")
# North American numbers written with separators: (555) 123-4567, 555-123-4567, +1 555.123.4567. Area code and
# exchange start with 2-9 (the numbering plan's rule), which keeps ranges, dates and ISBN groups out.
NANP_RE = re.compile(
    r"(?<![\w+.-])(?:\+?1[\s.-]?)?(?:\([2-9]\d{2}\)\s?|[2-9]\d{2}[\s.-])[2-9]\d{2}[\s.-]\d{4}(?![\w-]|\.\d)"
)
# International numbers must start with "+" and a country code; 8 to 15 digits in all (E.164).
INTL_RE = re.compile(r"(?<![\w+])\+[1-9]\d{0,2}(?:[\s.-]?(?:\(\d{1,4}\)|\d{1,5})){1,6}(?![\w-]|\.\d)")
# Words just before a match that say it is something else (a version or build number, a book number).
NOT_PII_CONTEXT = re.compile(r"(?:version|release|build|ver\.|isbn(?:-1[03])?:?|issn:?|doi:?)\s*$", re.IGNORECASE)


def _context_says_not_pii(text: str, start: int) -> bool:
    return NOT_PII_CONTEXT.search(text, max(0, start - 16), start) is not None


def _valid_ipv6(candidate: str) -> bool:
    # Needs real hex content: "a::b" or "::1" are as likely C++ scopes or loopback as anyone's address.
    if sum(ch in "0123456789abcdefABCDEF" for ch in candidate.split(".")[0]) < 4:
        return False
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return False
    return True


def _digits(s: str) -> int:
    return sum(ch.isdigit() for ch in s)


class Masker:
    """Substitutes one kind of PII and counts how many it replaced."""

    def __init__(self, pattern: re.Pattern, placeholder: str, accept: Callable[[str, re.Match], bool] | None = None):
        self.pattern, self.placeholder, self.accept = pattern, placeholder, accept
        self.count = 0

    def _replace(self, m: re.Match) -> str:
        if self.accept is not None and not self.accept(m.string, m):
            return m.group(0)
        self.count += 1
        return self.placeholder

    def __call__(self, text: str) -> str:
        return self.pattern.sub(self._replace, text)


class PiiMaskParams(StageParams):
    email: bool = True
    ip: bool = True
    phone: bool = True


@register_stage("pii_mask")
class PiiMaskStage(DocumentFilter):
    """Rewrites `text` with <EMAIL>, <IP> and <PHONE>; keeps every document; counts per type in the funnel."""

    Params = PiiMaskParams
    params: PiiMaskParams
    writes: ClassVar[dict[str, pa.DataType]] = {schema.TEXT: pa.string()}
    counter_names = ("pii_email", "pii_ip", "pii_phone", "pii_mask_documents")

    def mask(self, text: str) -> tuple[str, dict[str, int]]:
        """The masked text and how many of each kind were replaced."""
        p = self.params
        counts = {"pii_email": 0, "pii_ip": 0, "pii_phone": 0}
        if p.email and "@" in text:
            m = Masker(EMAIL_RE, EMAIL_PLACEHOLDER)
            text = m(text)
            counts["pii_email"] = m.count
        if p.ip and ("." in text or ":" in text):
            v4 = Masker(IPV4_RE, IP_PLACEHOLDER, lambda s, m: not _context_says_not_pii(s, m.start()))
            v6 = Masker(IPV6_RE, IP_PLACEHOLDER, lambda s, m: _valid_ipv6(m.group(0)))
            text = v6(v4(text))
            counts["pii_ip"] = v4.count + v6.count
        if p.phone:
            nanp = Masker(NANP_RE, PHONE_PLACEHOLDER, lambda s, m: not _context_says_not_pii(s, m.start()))
            intl = Masker(
                INTL_RE, PHONE_PLACEHOLDER,
                lambda s, m: 8 <= _digits(m.group(0)) <= 15 and not _context_says_not_pii(s, m.start()),
            )
            text = intl(nanp(text))
            counts["pii_phone"] = nanp.count + intl.count
        return text, counts

    def filter(self, row: dict) -> bool:
        text = row[schema.TEXT]
        if text:
            masked, counts = self.mask(text)
            for kind, n in counts.items():
                self.count(kind, n)
            if masked != text:
                row[schema.TEXT] = masked
                self.count("pii_mask_documents")
        return True
