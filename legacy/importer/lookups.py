"""A chunk's lookups: what the database already holds of its documents.

`field = ANY(%s)`: the lookups by a list of 2,000 values.

`field__in=values` spells out one placeholder per value: for each chunk
Django builds, the driver splits and quotes, and PostgreSQL parses a
statement of 2,000 literals, three times a chunk (a tenth of a
million-lead import's own time). One array parameter is one value to pass.
SQLite keeps IN.
"""

from collections.abc import Iterable

from django.db import connection
from django.db.models import F, Lookup, Q

from leads.models import Lead
from routing.models import Delivery
from tracking.models import TrackingEvent, VisitorSession

from ..models import LegacyRecord, MiniAnalysis
from .schema import NOT_DEDUPED, OUR_DELIVERED, S
from .values import as_text, legacy_uuid, phone_normalize_cached


class AnyOf(Lookup):
    lookup_name = "any_of"
    prepare_rhs = False

    def get_db_prep_lookup(self, value, connection):
        return "%s", [list(value)]

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} = ANY({rhs})", [*lhs_params, *rhs_params]


def among(field: str, values: Iterable):
    """A filter: `field` is one of `values`."""
    if connection.vendor == "postgresql":
        return AnyOf(F(field), list(values))
    return Q(**{f"{field}__in": list(values)})


class ChunkLookups:
    """Mixed into Importer: the per-chunk lookups of the big collections."""

    def _prepare(self, name: str, docs: list[tuple[int, str, dict]]) -> dict:
        """Per-chunk lookups of the big collections: one query each."""
        if name == "visitor_sessions":
            ids = [legacy_uuid(name, d[1]) for d in docs]
            return {
                "existing": set(VisitorSession.objects.filter(among("pk", ids)).values_list("pk"))
            }
        if name == "tracking":
            ids = {legacy_uuid("visitor_sessions", d[2].get("session_id")) for d in docs}
            found = set(
                VisitorSession.objects.filter(among("pk", ids)).values_list("pk", flat=True)
            )
            once = set(
                TrackingEvent.objects.filter(
                    session_id__in=found, event_type__in=TrackingEvent.ONCE_PER_SESSION
                ).values_list("session_id", "event_type")
            )
            return {"sessions": found, "once": once}
        if name == "leads":
            # By document line: each id turned into a UUID once.
            pks = {line: legacy_uuid(name, legacy_id) for line, legacy_id, _ in docs}
            session_pks = {
                line: legacy_uuid("visitor_sessions", doc["session_id"])
                for line, _, doc in docs
                if doc.get("session_id")
            }
            phones = {
                line: phone_normalize_cached(as_text(doc.get("phone"))) for line, _, doc in docs
            }
            return {
                "pks": pks,
                "existing": set(
                    Lead.objects.filter(among("pk", pks.values())).values_list("pk", flat=True)
                ),
                "session_pks": session_pks,
                "sessions": set(
                    VisitorSession.objects.filter(
                        among("pk", set(session_pks.values()))
                    ).values_list("pk", flat=True)
                ),
                "phones": phones,
                "identities": self._lead_identities({p for p in phones.values() if p}),
            }
        if name == "lead_queue":
            ids = {legacy_uuid("leads", d[2].get("lead_id")) for d in docs if d[2].get("lead_id")}
            leads = Lead.objects.filter(pk__in=ids)
            return {
                "leads": {
                    pk: (status, origin)
                    for pk, status, origin in leads.values_list(
                        "pk", "status", "account__origin_crm_id"
                    )
                },
                "delivered": set(Delivery.objects.filter(pk__in=ids).values_list("pk", flat=True)),
                # What the legacy lead said of its route (kept in its record).
                "lead_targets": {
                    legacy_uuid("leads", object_id): (as_text(target), as_text(source))
                    for object_id, target, source in LegacyRecord.objects.filter(
                        collection="leads", created=True, object_id__in=[str(i) for i in ids]
                    ).values_list("object_id", "extra__target_crm", "extra__routing_source")
                },
                "override_forms": set(
                    leads.filter(form__crm_override__isnull=False).values_list("pk", flat=True)
                ),
            }
        if name == "mini_analyses":
            emails = {as_text(d[2].get("email")).lower() for d in docs}
            for lead_pk, email, brand in MiniAnalysis.objects.filter(
                lead__email__in=emails
            ).values_list("lead_id", "lead__email", "brand_name"):
                self._mini_identities.setdefault((email, brand.lower()), lead_pk)
            return {"by_identity": self._mini_identities}
        return {}

    def _lead_identities(self, phones: set[str]) -> dict[tuple, list]:
        """Leads we have of these phones, by (phone, product): (pk, created
        at, delivered). One indexed query per chunk (phone, created_at)."""
        found: dict[tuple, list] = {}
        if not phones:
            return found
        rows = (
            Lead.objects.filter(among("phone", phones), product_type__isnull=False)
            .exclude(status__in=[*NOT_DEDUPED, S.DOUBLE_SUBMIT])
            .order_by("created_at")
            .values_list("phone", "product_type_id", "pk", "created_at", "status")
        )
        for phone, product, pk, created_at, status in rows:
            found.setdefault((phone, product), []).append((pk, created_at, status in OUR_DELIVERED))
        return found
