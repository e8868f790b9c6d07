"""A realistic legacy dump, made by factories (nothing copied from production):
what `mongoexport` writes for each collection of the legacy system, with
Extended JSON (`$oid`, `$date`, `$numberLong`), ISO date strings, fields we do
not map, some JSON-array files and some JSON-lines files.

Also used by bench/import_legacy.py to stream a million leads to disk."""

import io
import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import factory
import factory.random
from django.core.management import call_command
from faker import Faker

BASE_TIME = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)


def oid(rng: random.Random | None = None) -> dict:
    rng = rng or random
    return {"$oid": f"{rng.getrandbits(96):024x}"}


def ext_date(moment: datetime, style: int = 0) -> dict | str:
    """The three ways legacy dates come: ISO string (the API's own), relaxed
    `$date` ISO, canonical `$date` with `$numberLong` milliseconds."""
    if style == 0:
        return moment.astimezone(UTC).replace(tzinfo=None).isoformat()
    if style == 1:
        return {"$date": moment.astimezone(UTC).isoformat().replace("+00:00", "Z")}
    return {"$date": {"$numberLong": str(int(moment.timestamp() * 1000))}}


def french_mobile(rng: random.Random) -> str:
    digits = f"0{rng.choice('67')}{rng.randrange(10**8):08d}"
    style = rng.randrange(3)
    if style == 0:
        return digits
    if style == 1:
        return " ".join(digits[i : i + 2] for i in range(0, 10, 2))
    return "+33" + digits[1:]


def now_iso(moment: datetime) -> str:
    """`config.now_iso()` of the legacy code: datetime.now(timezone.utc).isoformat()."""
    return moment.astimezone(UTC).isoformat()


# Field names below are the legacy code's (seed 002: routes/public.py,
# services/lead_sender.py), never the importer's.


class CRMDoc(factory.DictFactory):
    _id = factory.LazyFunction(oid)
    id = factory.LazyFunction(lambda: str(uuid.uuid4()))
    name = factory.Sequence(lambda n: f"CRM {n}")
    slug = factory.Sequence(lambda n: f"crm{n}")
    api_url = factory.LazyAttribute(lambda o: f"https://{o.slug}.example.com/lead/api/create_lead/")
    created_at = factory.LazyFunction(lambda: ext_date(BASE_TIME - timedelta(days=400), 1))


class AccountDoc(factory.DictFactory):
    _id = factory.LazyFunction(oid)
    id = factory.LazyFunction(lambda: str(uuid.uuid4()))
    name = factory.Faker("company", locale="fr_FR")
    crm_id = None  # the origin CRM's id
    # {"PV": {"target_crm": "zr7", "api_key": "…"}}: a CRM *slug* and its key.
    crm_routing = factory.LazyFunction(dict)
    logo_url = factory.Faker("image_url")
    gtm_head = "<script>/* gtm head */</script>"
    mentions_legales = factory.Faker("paragraph", locale="fr_FR")
    redirect_url = factory.Faker("url")
    theme_color = factory.Faker("hex_color")  # not ours: kept in `extra`


class LPDoc(factory.DictFactory):
    _id = factory.LazyFunction(oid)
    id = factory.LazyFunction(lambda: str(uuid.uuid4()))
    code = factory.Sequence(lambda n: f"LP-{n + 101:03d}")
    name = factory.Faker("catch_phrase", locale="fr_FR")
    account_id = None
    url = factory.Faker("url")
    form_id = None
    source = factory.Iterator(["facebook", "google", "native"])
    status = "active"


class FormDoc(factory.DictFactory):
    _id = factory.LazyFunction(oid)
    id = factory.LazyFunction(lambda: str(uuid.uuid4()))
    product_type = "PV"
    code = factory.Sequence(lambda n: f"PV-{n + 201:03d}")
    name = factory.Faker("bs", locale="fr_FR")
    account_id = None
    lp_id = None
    # The form's CRM override (whitelisted slug + key), "" when none.
    target_crm = ""
    crm_api_key = ""
    allow_cross_crm = True
    redirect_url = factory.Faker("url")
    tracking_mode = "gtm"  # not ours: kept in `extra`


class CommandeDoc(factory.DictFactory):
    _id = factory.LazyFunction(oid)
    id = factory.LazyFunction(lambda: str(uuid.uuid4()))
    crm_id = None
    product_type = "PV"
    departements = factory.LazyFunction(lambda: ["75", "92", "93", "94"])
    prix_unitaire = "25,50"  # as typed in the legacy admin: a French decimal comma
    active = True
    date_debut = factory.LazyFunction(lambda: ext_date(BASE_TIME - timedelta(days=90), 0))
    date_fin = None
    limite_jour = {"$numberLong": "200"}


@dataclass
class Dump:
    directory: Path
    crms: list = field(default_factory=list)
    accounts: list = field(default_factory=list)
    lps: list = field(default_factory=list)
    forms: list = field(default_factory=list)
    commandes: list = field(default_factory=list)
    sessions: list = field(default_factory=list)
    events: list = field(default_factory=list)
    leads: list = field(default_factory=list)
    queue: list = field(default_factory=list)
    broken_lines: dict = field(default_factory=dict)  # collection → line number


LEGACY_STATUSES = ["success", "duplicate", "failed", "invalid_phone", "orphan", "queued"]


class LeadDocMaker:
    """Fast lead documents as `submit_lead` inserts them and the sender then
    updates them (a million in a few seconds' worth of CPU): names and places
    come from a small pool drawn once from Faker."""

    def __init__(self, seed: int = 7):
        self.rng = random.Random(seed)
        fake = Faker("fr_FR")
        fake.seed_instance(seed)
        self.people = [
            (fake.last_name(), fake.first_name(), fake.street_address(), fake.postcode())
            for _ in range(300)
        ]

    def make(
        self,
        *,
        form,
        session_id: str | None,
        created_at: datetime,
        status: str,
        target_crm: str = "zr7",
        origin_crm: str = "zr7",
    ) -> dict:
        rng = self.rng
        nom, prenom, _adresse, postcode = rng.choice(self.people)
        metro = postcode if not postcode.startswith(("97", "98", "20")) else "75011"
        delivered = status in ("success", "duplicate")
        routed = status not in ("orphan", "invalid_phone", "missing_required", "no_crm")
        lp_code = form.get("_lp_code", "")
        doc = {
            "_id": oid(rng),
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "session_id": session_id or str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "form_id": form["id"],
            "form_code": form["code"],
            "account_id": form["account_id"],
            "product_type": form["product_type"],
            "phone": french_mobile(rng),
            "nom": nom,
            "prenom": prenom,
            "civilite": rng.choice(["M.", "Mme"]),
            "email": f"{prenom}.{nom}{rng.randrange(1000)}@example.fr".lower().replace(" ", ""),
            "departement": metro[:2],
            "ville": "Paris",
            "adresse": _adresse,
            "type_logement": "maison",
            "statut_occupant": "proprietaire",
            "surface_habitable": "",
            "annee_construction": "",
            "type_chauffage": "",
            "facture_electricite": rng.choice(["100-150", "150-200", "200+"]),
            "facture_chauffage": "",
            "type_projet": "",
            "delai_projet": "",
            "budget": "",
            "lp_code": lp_code,
            "liaison_code": f"{lp_code}_{form['code']}" if lp_code else form["code"],
            "utm_source": rng.choice(["facebook", "google"]),
            "utm_medium": "",
            "utm_campaign": rng.choice(["printemps", "ete", ""]),
            "quality_tier": None,
            "rgpd_consent": True,
            "newsletter": rng.random() < 0.3,
            "ip": f"82.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
            "register_date": int(created_at.timestamp()),
            "created_at": now_iso(created_at),
            "origin_crm": origin_crm,
            "target_crm": target_crm if routed else "none",
            "routing_reason": f"account_routing_{target_crm}" if routed else "no_crm",
            "routing_source": "account_routing" if routed else "none",
            "distribution_reason": {
                "orphan": "FORM_NOT_FOUND",
                "invalid_phone": "PHONE_INVALID",
                "no_crm": "CRM_NOT_CONFIGURED",
            }.get(status, f"account_routing_{target_crm}"),
            "api_status": status,
            "sent_to_crm": delivered,
            "retry_count": 0,
            "phone_invalid": status == "invalid_phone",
            "missing_nom": False,
            "missing_dept": False,
            "form_not_found": status == "orphan",
            "is_double_submit": False,
            "original_lead_id": None,
            "sent_at": now_iso(created_at + timedelta(seconds=1)) if delivered else None,
        }
        if status == "queued":
            doc |= {"queue_reason": "error", "queued_at": now_iso(created_at)}
        if status == "failed":
            doc["api_response"] = "{'error': 'refus'}"
        return doc


def _write_lines(path: Path, docs, broken_after: int | None = None) -> int | None:
    """JSON lines; a broken line after `broken_after` docs. Returns its line number."""
    broken = None
    with path.open("w") as handle:
        for number, doc in enumerate(docs, start=1):
            if broken_after is not None and number == broken_after + 1:
                handle.write('{"id": "broken", "nom": "Dup\n')
                broken = number
            handle.write(json.dumps(doc) + "\n")
    return broken


def _write_array(path: Path, docs) -> None:
    path.write_text(json.dumps(list(docs), indent=1))


def write_dump(directory: Path, *, leads: int = 30, seed: int = 7) -> Dump:
    """A small complete dump: 2 CRMs, 2 accounts, 3 LPs, 3 forms (one with a
    CRM override), 2 orders, sessions with their events, `leads` leads, queue
    items, a broken line in leads.json and in tracking.json, and bad documents
    the audit must reject."""
    rng = random.Random(seed)
    factory.random.reseed_random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    dump = Dump(directory)
    dump.crms = [CRMDoc(name="ZR7 Digital", slug="zr7"), CRMDoc(name="Maison du Lead", slug="mdl")]
    zr7, mdl = dump.crms
    dump.accounts = [
        AccountDoc(
            crm_id=zr7["id"],
            crm_routing={
                "PV": {"target_crm": "zr7", "api_key": "zr7-key-pv"},
                "PAC": {"target_crm": "ZR7 ", "api_key": "zr7-key-pac"},
            },
        ),
        AccountDoc(
            crm_id=mdl["id"],
            crm_routing={
                "ITE": {"target_crm": "mdl", "api_key": "mdl-key-ite"},
                # Incomplete: the legacy intake ignored it; so do we (noted).
                "PV": {"target_crm": "mdl", "api_key": ""},
            },
        ),
    ]
    dump.lps = [
        LPDoc(account_id=dump.accounts[min(i, 1)]["id"], code=f"LP-{101 + i}") for i in range(3)
    ]
    dump.forms = [
        FormDoc(account_id=dump.lps[0]["account_id"], lp_id=dump.lps[0]["id"], code="PV-201"),
        # The form's override sends its leads to MDL with its own key.
        FormDoc(
            account_id=dump.lps[1]["account_id"],
            lp_id=dump.lps[1]["id"],
            product_type="PAC",
            code="PAC-007",
            target_crm="mdl",
            crm_api_key="mdl-key-form-pac",
        ),
        # No lp_id: found through the LP's form_id.
        FormDoc(account_id=dump.lps[2]["account_id"], product_type="ITE", code="ITE-012"),
    ]
    dump.lps[2]["form_id"] = dump.forms[2]["id"]
    for lp, form in zip(dump.lps, dump.forms, strict=True):
        if lp["form_id"] is None:
            lp["form_id"] = form["id"]
        form["_lp_code"] = lp["code"]
    dump.commandes = [
        CommandeDoc(crm_id=zr7["id"]),
        CommandeDoc(crm_id=mdl["id"], product_type="ITE", departements=[], prix_unitaire=40),
        # Invalid: a product the system never had.
        CommandeDoc(crm_id=mdl["id"], product_type="SOLAR_WIND"),
    ]

    maker = LeadDocMaker(seed + 1)
    statuses = ["success", "duplicate", "failed", "invalid_phone", "queued", "success", "queued"]
    for n in range(leads):
        form = dump.forms[n % 3]
        target = "mdl" if form["product_type"] != "PV" else "zr7"
        created = BASE_TIME + timedelta(hours=n * 7, minutes=rng.randrange(60))
        session = {
            "_id": oid(rng),
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "visitor_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "lp_code": form["_lp_code"],
            # Legacy landing pages post the form's id (a UUID) as form_code.
            "form_code": form["id"] if n % 2 else form["code"],
            "liaison_code": f"{form['_lp_code']}_{form['code']}",
            "referrer": "https://www.facebook.com/",
            "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)",
            "utm_source": "facebook",
            "utm_medium": "",
            "utm_campaign": "printemps",
            "utm_content": "",
            "utm_term": "",
            "gclid": "",
            "fbclid": "",
            "ip": f"90.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
            "created_at": now_iso(created - timedelta(minutes=3)),
            "status": "converted",
        }
        dump.sessions.append(session)
        for offset, event_type in enumerate(("lp_visit", "form_start", "form_step")):
            dump.events.append(
                {
                    "_id": oid(rng),
                    "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "session_id": session["id"],
                    "visitor_id": session["visitor_id"],
                    "event": event_type,
                    "lp_code": form["_lp_code"],
                    "lp_id": dump.lps[n % 3]["id"],
                    "account_id": form["account_id"],
                    "form_code": form["code"],
                    "liaison_code": session["liaison_code"],
                    "form_id": form["id"],
                    "ip": session["ip"],
                    "created_at": now_iso(created - timedelta(minutes=3 - offset)),
                }
            )
        lead = maker.make(
            form=form,
            session_id=session["id"],
            created_at=created,
            status=statuses[n % len(statuses)],
            target_crm="mdl" if form["code"] == "PAC-007" else target,
            origin_crm="zr7" if n % 3 != 2 else "mdl",
        )
        if form["code"] == "PAC-007":
            lead["routing_source"] = "form_override"
        session["lead_id"] = lead["id"]
        dump.leads.append(lead)
    if leads >= 3:
        # A second lp_visit for one session: refused (once per session).
        dump.events.append({**dump.events[0], "_id": oid(rng), "id": str(uuid.uuid4())})
        # A lead with a phone we cannot accept and one with an unknown form.
        dump.leads[1]["phone"] = "0611111111"
        dump.leads[2]["form_code"] = "PV-999"
        dump.leads[2]["form_id"] = None
    # Queue items for the leads the legacy system was still trying to send,
    # as add_to_queue wrote them.
    urls = {c["slug"]: c["api_url"] for c in dump.crms}
    for doc in dump.leads:
        if doc["api_status"] == "queued":
            dump.queue.append(
                {
                    "_id": oid(rng),
                    "id": doc["id"],
                    "lead_id": doc["id"],
                    "lead_data": {k: v for k, v in doc.items() if k != "_id"},
                    "api_url": urls[doc["target_crm"]],
                    "api_key": "copied-at-queue-time",
                    "reason": "error",
                    "retry_count": 2,
                    "max_retries": 5,
                    "next_retry_at": now_iso(BASE_TIME + timedelta(days=900)),
                    "created_at": doc["created_at"],
                    "status": "pending",
                    "last_error": "HTTP 503",
                }
            )
    # A queue item for a lead that is not in the dump.
    orphan_item = str(uuid.uuid4())
    dump.queue.append(
        {
            "_id": oid(rng),
            "id": orphan_item,
            "lead_id": orphan_item,
            "api_url": zr7["api_url"],
            "status": "pending",
            "retry_count": 0,
        }
    )

    _write_array(directory / "crms.json", dump.crms)
    _write_lines(directory / "accounts.json", dump.accounts)
    _write_array(directory / "lps.json", dump.lps)
    _write_lines(directory / "forms.json", [_public(f) for f in dump.forms])
    _write_lines(directory / "commandes.json", dump.commandes)
    _write_array(directory / "visitor_sessions.json", dump.sessions)
    dump.broken_lines["tracking"] = _write_lines(
        directory / "tracking.json", dump.events, broken_after=4
    )
    dump.broken_lines["leads"] = _write_lines(
        directory / "leads.json", dump.leads, broken_after=leads // 2
    )
    _write_lines(directory / "lead_queue.json", dump.queue)
    (directory / "audit_log.json").write_text("{}\n")  # a collection we do not know
    return dump


def _public(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if not k.startswith("_lp")}


def run(*args) -> tuple[str, str]:
    """`manage.py import_legacy ARGS`: what it wrote to stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    call_command("import_legacy", *[str(a) for a in args], stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def run_json(*args) -> dict:
    return json.loads(run(*args, "--json")[0])
