"""A small per-process cache of configuration rows read on every public request
(forms, routing entries, quality mappings), so that the hot path does not pay
one SQL query per lookup.

Staleness bound: a save or delete of any model a cache depends on clears that
cache at once in the process that made the change (and again when its
transaction commits); every other process (gunicorn workers, other hosts)
sees the change at the latest `ttl` seconds later. A value loaded while a
clear happened is served but not kept. Writes that send no signal
(`QuerySet.update()`, `bulk_create`, raw SQL) are seen everywhere within `ttl`.
Only configuration staff edit by hand goes in here, never per-visitor data; the
cached objects are shared by every request of the process: read them, never
change them.
"""

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save

# Every cache of the process, so tests can start from empty ones.
_ALL: list["ProcessCache"] = []

_MISSING = object()


class ProcessCache:
    """get(key, load): load(key) at most once per `ttl` seconds per key.

    Bounded: past `max_entries` keys it starts over, so keys taken from
    requests (e.g. an utm_campaign) cannot grow it without limit."""

    def __init__(self, name: str, *, ttl: float, depends_on: tuple, max_entries: int = 1000):
        self.name = name
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[Hashable, tuple[float, Any]] = {}
        self._lock = threading.Lock()
        self._generation = 0  # bumped by every clear()
        for model in depends_on:
            uid = f"process_cache:{name}:{model._meta.label}"
            post_save.connect(self._model_changed, sender=model, dispatch_uid=uid + ":save")
            post_delete.connect(self._model_changed, sender=model, dispatch_uid=uid + ":delete")
        _ALL.append(self)

    def get(self, key: Hashable, load: Callable[[Hashable], Any], *, cache_none: bool = True):
        now = time.monotonic()
        entry = self._entries.get(key, _MISSING)
        if entry is not _MISSING and entry[0] > now:
            return entry[1]
        generation = self._generation
        value = load(key)
        if value is not None or cache_none:
            with self._lock:
                # A clear() while we were loading means the row may have
                # changed after we read it: serve it, but do not keep it.
                if generation != self._generation:
                    return value
                if len(self._entries) >= self.max_entries:
                    self._entries.clear()
                self._entries[key] = (now + self.ttl, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()

    def _model_changed(self, **kwargs) -> None:
        self.clear()
        # A read between the save and the commit may have cached the
        # uncommitted (or soon rolled back) row: forget it again at the end.
        transaction.on_commit(self.clear, robust=True)


def process_caches_clear() -> None:
    for cache in _ALL:
        cache.clear()
