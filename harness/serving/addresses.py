"""Server addresses as users type them: checked once, before anything runs."""
from __future__ import annotations

from urllib.parse import urlsplit


class AddressError(ValueError):
    """A URL option that cannot name a server."""


def parse_url(text: str, option: str) -> str:
    """``http://host:port[/prefix]`` without a trailing slash; a clear error otherwise."""
    value = (text or "").strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AddressError(f"{option} {text!r}: expected http://HOST:PORT (an http or https URL with a host)")
    try:
        port = parts.port
    except ValueError:
        raise AddressError(f"{option} {text!r}: the port is not a number in 1-65535") from None
    if port == 0:
        raise AddressError(f"{option} {text!r}: the port is not a number in 1-65535")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise AddressError(f"{option} {text!r}: expected http://HOST:PORT[/PATH], without a query, "
                           f"a fragment or credentials")
    return value.rstrip("/")


def parse_urls(text: str, option: str) -> tuple[str, ...]:
    """A comma-separated list of server URLs, each once."""
    urls = [parse_url(item, option) for item in (text or "").split(",") if item.strip()]
    if not urls:
        raise AddressError(f"{option}: empty; expected URL[,URL...] of the SUT servers (python -m harness serve)")
    seen = set()
    for url in urls:
        if url in seen:
            raise AddressError(f"{option}: {url} is given twice; each server once")
        seen.add(url)
    return tuple(urls)
