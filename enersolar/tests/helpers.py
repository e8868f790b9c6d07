"""Shared helpers for tests of the public HTTP API."""

import ipaddress
import random

from rest_framework.test import APIClient


def unique_ip() -> str:
    """A fresh client address (10.0.0.0/8): rate limits are per client IP and
    the cache (Redis in CI) outlives a test, so every test posts from its own."""
    return str(ipaddress.IPv4Address((10 << 24) | random.getrandbits(24)))


def public_client(ip: str | None = None, **defaults) -> APIClient:
    """An anonymous API client, as a visitor's browser or a partner server."""
    return APIClient(REMOTE_ADDR=ip or unique_ip(), **defaults)
