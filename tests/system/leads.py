"""What a landing page does (open a session, post a lead) and what the tests
check from outside: statuses in the database, requests at the buyer."""

from __future__ import annotations

import itertools
import time

import requests

from .harness import Stack, wait_for

_phones = itertools.count(1)


class LandingPage:
    def __init__(self, stack: Stack, *, product: str = "PV"):
        self.stack = stack
        self.http = requests.Session()
        self.lp_code = stack.db.rows(
            "SELECT code FROM tracking_landingpage WHERE name = %s", [f"LP Démo {product}"]
        )[0][0]

    def lead(self, *, code_postal: str = "75011") -> str:
        """A visitor opens the page and sends the form; the lead's id."""
        base = self.stack.base_url
        session = self.http.post(
            f"{base}/api/public/track/session", json={"lp_code": self.lp_code}, timeout=15
        )
        assert session.status_code == 200, session.text
        opened = session.json()
        answer = self.http.post(
            f"{base}/api/public/leads",
            json={
                "session_id": opened["session_id"],
                "form_code": opened["form_code"],
                "phone": f"06{12000000 + next(_phones):08d}",
                "nom": "Martin",
                "prenom": "Claire",
                "code_postal": code_postal,
            },
            timeout=15,
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["success"] is True, answer.text
        return answer.json()["lead_id"]

    def leads(self, count: int, **fields) -> list[str]:
        return [self.lead(**fields) for _ in range(count)]


def statuses(stack: Stack, lead_ids: list[str]) -> dict[str, str]:
    clause, params = stack.db.in_clause(lead_ids)
    return dict(stack.db.rows(f"SELECT id, status FROM leads_lead WHERE id IN {clause}", params))


def wait_delivered(stack: Stack, lead_ids: list[str], *, timeout: float) -> float:
    """Wait until every lead's status is `success`; the seconds it took."""
    started = time.monotonic()

    def all_delivered():
        found = statuses(stack, lead_ids)
        return len(found) == len(lead_ids) and set(found.values()) == {"success"}

    wait_for(all_delivered, timeout=timeout, what=f"{len(lead_ids)} leads delivered", every=0.5)
    return time.monotonic() - started


def assert_each_taken_once(stack: Stack, lead_ids: list[str]) -> None:
    """Each lead reached the buyer and was taken (201) exactly once, told
    apart by its Idempotency-Key."""
    taken = stack.buyer.count_by_idempotency_key(answered=201)
    assert {i: taken[str(i)] for i in lead_ids} == {str(i): 1 for i in lead_ids}


def deliveries_in_state(stack: Stack, lead_ids: list[str], state: str) -> int:
    clause, params = stack.db.in_clause(lead_ids)
    return stack.db.rows(
        f"SELECT COUNT(*) FROM routing_delivery WHERE lead_id IN {clause} AND state = %s",
        [*params, state],
    )[0][0]
