"""URL normalisation shared by URL dedup, reference-URL matching and domain tags.

``registered_domain`` is the host's domain as registered, by the Public Suffix List's ICANN section
(``news.bbc.co.uk`` -> ``bbc.co.uk``): what per-domain counts group by, as Dolma's do.

``normalize_url`` maps the spellings of one page to one key: scheme and host lower-cased,
``www.`` and default ports dropped, fragment removed, percent-encoding made canonical, a
trailing slash removed from the path, and query parameters sorted with tracking parameters
(``utm_*``, ``fbclid``, ``gclid``...) removed. ``http`` and ``https`` give the same key.
"""
from __future__ import annotations

import functools
import ipaddress
import urllib.parse

TRACKING_PARAMS = frozenset({"fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "_ga", "yclid", "igshid"})


def _is_tracking(name: str) -> bool:
    return name.lower().startswith("utm_") or name.lower() in TRACKING_PARAMS


def normalize_url(url: str) -> str:
    """A canonical key for ``url`` ("" for what is not an http(s) URL)."""
    url = (url or "").strip()
    if url.startswith("//"):
        url = "http:" + url
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return ""
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return ""
    host = parts.hostname.lower().rstrip(".")
    if host.startswith("www."):
        host = host[4:]
    try:
        port = parts.port
    except ValueError:
        port = None
    if port and port not in (80, 443):
        host = f"{host}:{port}"
    path = urllib.parse.quote(urllib.parse.unquote(parts.path), safe="/:@!$&'()*+,;=-._~%")
    path = path.rstrip("/") or ""
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    query = sorted((k, v) for k, v in query if not _is_tracking(k))
    q = urllib.parse.urlencode(query)
    return f"{host}{path}" + (f"?{q}" if q else "")


def domain(url: str) -> str:
    """The host of ``url`` without ``www.`` ("" when there is none)."""
    try:
        host = urllib.parse.urlsplit(url.strip()).hostname or ""
    except ValueError:
        return ""
    host = host.lower().rstrip(".")
    return host[4:] if host.startswith("www.") else host


@functools.lru_cache(maxsize=1)
def _public_suffixes():
    from publicsuffixlist import PublicSuffixList  # the list ships inside the package: no download

    return PublicSuffixList(only_icann=True)


def registered_domain(url: str) -> str:
    """The registered domain of ``url``'s host (eTLD+1: ``bbc.co.uk`` for ``news.bbc.co.uk``); the
    host itself for an IP address or a host that is a public suffix; "" without a host."""
    host = domain(url)
    if not host:
        return ""
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    return _public_suffixes().privatesuffix(host) or host
