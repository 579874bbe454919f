"""Credentials never leave the process: URLs are printed and logged with their secrets masked, and a storage is
identified by a digest of its full URL instead of the URL itself.

A URL's secrets are the password of its user info (`postgresql://user:PASSWORD@host/db`) and the values of query
keys that name one (`?password=...`, `?token=...`).
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import parse_qsl, unquote, urlsplit

MASK = "***"
SECRET_KEYS = ("password", "passwd", "pwd", "secret", "token")
"""Query keys containing one of these hold a secret."""
# A URL found in free text (a message, a JSON document) ends at whitespace, a quote, or punctuation ending a clause
_USER_INFO = re.compile(r"(?P<head>[A-Za-z][\w+.-]*://[^\s/@:\"']*:)(?P<password>[^\s/@\"']+)(?=@)")
_SECRET_QUERY = re.compile(rf"(?P<head>[?&][^\s=&#\"']*(?:{'|'.join(SECRET_KEYS)})[^\s=&#\"']*=)"
                           rf"(?P<value>[^\s&#\"']+?)(?=[\s&#\"',;)]|[:.](?:\s|$)|$)", re.IGNORECASE)


def url_secrets(url: str) -> list[str]:
    """The secrets in `url`, as written and percent-decoded (a driver's message may show either)."""
    parts = urlsplit(url)
    found = [parts.password] if parts.password else []
    found += [value for key, value in parse_qsl(parts.query, keep_blank_values=True)
              if value and any(word in key.lower() for word in SECRET_KEYS)]
    return sorted({form for secret in found for form in (secret, unquote(secret))}, key=len, reverse=True)


def redact_url(url: str) -> str:
    """`url` with its secrets masked: postgresql://u:***@host/db; a URL without secrets comes back unchanged."""
    return redact(url, url)


def redact(text: str, *urls: str | None) -> str:
    """`text` with every secret of `urls` masked, and any other URL's user-info password or secret query value too."""
    for url in urls:
        for secret in url_secrets(url or ""):
            text = text.replace(secret, MASK)
    return _SECRET_QUERY.sub(rf"\g<head>{MASK}", _USER_INFO.sub(rf"\g<head>{MASK}", text))


def url_digest(url: str) -> str:
    """First 16 hex digits of sha256 over the full URL: tells storages apart without showing their credentials."""
    return hashlib.sha256(url.encode()).hexdigest()[:16]
