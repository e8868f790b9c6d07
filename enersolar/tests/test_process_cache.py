"""The per-process configuration cache (enersolar/process_cache.py)."""

from enersolar.models import CRM
from enersolar.process_cache import ProcessCache


def test_a_value_is_loaded_once_within_its_ttl():
    cache = ProcessCache("test-once", ttl=60, depends_on=(CRM,))
    loads = []

    def load(key):
        loads.append(key)
        return key.upper()

    assert [cache.get("a", load), cache.get("a", load)] == ["A", "A"]
    assert loads == ["a"]


def test_a_value_loaded_while_the_cache_was_cleared_is_served_but_not_kept():
    """The clear() says the rows changed: what this load read may predate it."""
    cache = ProcessCache("test-race", ttl=60, depends_on=(CRM,))
    loads = []

    def load_racing_a_change(key):
        loads.append(key)
        if len(loads) == 1:
            cache.clear()  # another thread saved a CRM meanwhile
        return f"{key}-{len(loads)}"

    assert cache.get("a", load_racing_a_change) == "a-1"
    assert cache.get("a", load_racing_a_change) == "a-2"
    assert cache.get("a", load_racing_a_change) == "a-2"
