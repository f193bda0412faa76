"""Creative Commons licence ids from URLs and from licence names ("CC BY-SA 4.0", "Attribution-ShareAlike")."""

from __future__ import annotations

import re

# creativecommons.org/licenses/by-nc-sa/3.0/de/deed.en → by-nc-sa, 3.0 (the jurisdiction port is kept as evidence)
_CC_URL = re.compile(
    r"creativecommons\.org/(?P<kind>licen[cs]es|publicdomain)/(?P<code>[a-z0-9+\-]+)(?:/(?P<version>\d(?:\.\d)?))?"
    r"(?:/(?P<port>[a-z]{2}(?:-[a-z]{2})?)(?=/|$|[?#\"']))?",
    re.IGNORECASE,
)
# Licence elements in the order CC writes them; old 1.0 deeds used "by-nd-nc", which is the same licence.
_ELEMENTS = ("by", "nc", "nd", "sa")

# Rank of restriction, used when one page names several licences: the most restrictive one is reported,
# because the page's text is only as free as its least free part.
_RESTRICTION = {
    "pdm": 0,
    "cc0": 0,
    "cc-pddc": 0,
    "cc-by": 1,
    "cc-by-sa": 2,
    "cc-by-nd": 3,
    "cc-by-nc": 3,
    "cc-by-nc-sa": 4,
    "cc-by-nc-nd": 5,
}


def _canonical_elements(code: str) -> str | None:
    parts = [p for p in code.lower().replace("+", "").split("-") if p]
    if not parts or any(p not in _ELEMENTS for p in parts):
        return None
    ordered = [e for e in _ELEMENTS if e in parts]
    return "-".join(ordered)


def license_from_url(url: str | None) -> tuple[str, str | None] | None:
    """(licence id, jurisdiction port or None) for a creativecommons.org licence or public-domain URL."""
    if not url:
        return None
    m = _CC_URL.search(url)
    if not m:
        return None
    kind, code, version = m.group("kind").lower(), m.group("code").lower(), m.group("version")
    if kind == "publicdomain":
        if code == "zero":
            lid = "cc0"
        elif code == "mark":
            return "pdm", None
        else:
            return None
    elif code == "publicdomain":  # the retired public-domain certification, licenses/publicdomain/
        return "cc-pddc", None
    else:
        elements = _canonical_elements(code)
        if elements is None:
            return None
        lid = f"cc-{elements}"
    if version:
        lid = f"{lid}-{version if '.' in version else version + '.0'}"
    port = m.group("port")
    return lid, port.lower() if port else None


_NAME_SHORT = re.compile(
    r"\bCC[\s\-_]?(BY(?:[\s\-_]+(?:NC|ND|SA)){0,2}|0|zero)\b(?:[\s\-_]+(?:v(?:ersion)?\s*)?(\d\.\d))?", re.IGNORECASE
)
_NAME_LONG = re.compile(
    r"Creative[\s_]+Commons[\s_\-]+(?P<body>(?:Attribution|Namensnennung|Reconocimiento|Paternit[ée])"
    r"(?:[\s_\-]+(?:Non[\s_\-]?Commercial|No[\s_\-]?Deriv(?:ative)?s?|Share[\s_\-]?Alike|Nicht[\s_\-]?kommerziell|"
    r"Keine[\s_\-]?Bearbeitungen?|Weitergabe[\s_\-]+unter[\s_\-]+gleichen[\s_\-]+Bedingungen))*)"
    r"(?:[\s_\-]+(?:License|Licence|Lizenz))?(?:[\s_\-]+(?:v(?:ersion)?\s*)?(?P<version>\d\.\d))?",
    re.IGNORECASE,
)
_LONG_ELEMENTS = (
    ("nc", re.compile(r"non[\s_\-]?commercial|nicht[\s_\-]?kommerziell", re.IGNORECASE)),
    ("nd", re.compile(r"no[\s_\-]?deriv|keine[\s_\-]?bearbeitung", re.IGNORECASE)),
    ("sa", re.compile(r"share[\s_\-]?alike|gleichen[\s_\-]+bedingungen", re.IGNORECASE)),
)


def license_from_name(text: str | None) -> str | None:
    """A licence id from a licence's name in running text or a URL slug; None when no CC licence is named."""
    if not text:
        return None
    if "creativecommons.org" in text.lower():
        hit = license_from_url(text)
        if hit:
            return hit[0]
    m = _NAME_LONG.search(text)
    if m:
        body = m.group("body")
        elements = ["by"] + [e for e, rx in _LONG_ELEMENTS if rx.search(body)]
        lid = "cc-" + "-".join(elements)
        return f"{lid}-{m.group('version')}" if m.group("version") else lid
    m = _NAME_SHORT.search(text)
    if m:
        code = m.group(1).lower()
        if code in ("0", "zero"):
            lid = "cc0"
        else:
            elements = _canonical_elements(re.sub(r"[\s_]+", "-", code))
            if elements is None:
                return None
            lid = f"cc-{elements}"
        return f"{lid}-{m.group(2)}" if m.group(2) else lid
    if re.search(r"public\s+domain\s+mark", text, re.IGNORECASE):
        return "pdm"
    return None


def restriction(license_id: str) -> int:
    """How restrictive a licence is (0 = public domain); unversioned and unknown ids rank by their family."""
    family = re.sub(r"-\d(\.\d)?$", "", license_id)
    return _RESTRICTION.get(family, 6)


def most_restrictive(ids: list[str]) -> str:
    """The licence to report for a page naming several: the most restrictive, ties to the first named."""
    best = ids[0]
    for lid in ids[1:]:
        if restriction(lid) > restriction(best):
            best = lid
    return best
