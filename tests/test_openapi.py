"""The OpenAPI document and the Swagger UI page (served without any CDN)."""

import re

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

POST_PATHS = [
    "/api/public/track/session",
    "/api/public/track/lp-visit",
    "/api/public/track/event",
    "/api/public/leads",
    "/api/v1/leads",
]
GET_PATHS = [
    "/api/forms/public/{code}",
    "/api/forms/public/by-lp/{lp_code}",
    "/api/forms/config/departements",
]


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    with django_db_blocker.unblock():
        response = Client().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def test_schema_is_an_openapi_document(schema):
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "EnerSolar CRM API"


def test_schema_is_served_as_yaml_by_default():
    response = Client().get("/api/schema/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")
    assert response.content.startswith(b"openapi: 3.")


@pytest.mark.parametrize("path", POST_PATHS)
def test_every_public_post_endpoint_is_documented_with_its_errors(schema, path):
    operation = schema["paths"][path]["post"]
    responses = operation["responses"]
    for code in ("200", "400", "413", "429", "503"):
        assert code in responses, f"{path} does not document {code}"
    for code in ("400", "429"):
        ref = responses[code]["content"]["application/json"]["schema"]["$ref"]
        assert ref == "#/components/schemas/Error"
    # Beacons send text/plain JSON: documented as accepted.
    assert {"application/json", "text/plain"} <= set(operation["requestBody"]["content"])


@pytest.mark.parametrize("path", GET_PATHS)
def test_every_public_config_endpoint_is_documented_with_its_rate_limit(schema, path):
    responses = schema["paths"][path]["get"]["responses"]
    assert "200" in responses
    assert "429" in responses, f"{path} is rate-limited but does not document 429"


@pytest.mark.parametrize("path", ["/api/forms/public/{code}", "/api/forms/public/by-lp/{lp_code}"])
def test_form_config_documents_404(schema, path):
    assert "404" in schema["paths"][path]["get"]["responses"]


def test_error_schema(schema):
    error = schema["components"]["schemas"]["Error"]
    assert {"success", "error"} <= set(error["properties"])


def test_public_lead_request_requires_the_legacy_fields(schema):
    ref = schema["paths"]["/api/public/leads"]["post"]["requestBody"]["content"][
        "application/json"
    ]["schema"]["$ref"]
    body = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert set(body["required"]) == {"session_id", "form_code", "phone"}
    for field in ("nom", "departement", "code_postal", "rgpd_consent", "utm_campaign"):
        assert field in body["properties"]


def test_public_endpoints_need_no_authentication(schema):
    for path in POST_PATHS[:4]:
        assert schema["paths"][path]["post"].get("security") in (None, [{}])
    for path in GET_PATHS:
        assert schema["paths"][path]["get"].get("security") in (None, [{}])


def test_partner_endpoint_documents_its_api_key(schema):
    operation = schema["paths"]["/api/v1/leads"]["post"]
    assert "401" in operation["responses"]
    assert {} not in operation["security"], "documented as open to anonymous callers"
    required = [name for requirement in operation["security"] for name in requirement]
    assert required
    schemes = schema["components"]["securitySchemes"]
    for name in required:
        assert schemes[name]["type"] == "apiKey"
        assert schemes[name]["in"] == "header"
    assert {schemes[name]["name"] for name in required} == {"X-API-Key", "Authorization"}


def test_swagger_ui_uses_only_local_assets():
    client = Client()
    response = client.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assets = re.findall(r'<(?:script|link)\b[^>]*\b(?:src|href)="([^"]+)"', html)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets)
    assert any(a.endswith("swagger-ui.css") for a in assets)
    for asset in assets:
        assert not re.match(r"^(https?:)?//", asset), f"CDN asset in the docs page: {asset}"
        # The start-up script is the page's own (no inline script, for the CSP).
        assert asset.startswith("/static/") or asset == "/api/docs/?script="
    assert not re.search(r"https?://", html), "an absolute URL in the docs page"
    assert "<script>" not in html
    script = client.get("/api/docs/?script=")
    assert script["Content-Type"].startswith("application/javascript")
    assert '"/api/schema/"' in script.content.decode()


def test_swagger_ui_assets_are_served():
    client = Client()
    html = client.get("/api/docs/").content.decode()
    assets = re.findall(r'<(?:script|link)\b[^>]*\b(?:src|href)="([^"]+)"', html)
    assert assets
    for asset in assets:
        response = client.get(asset)
        assert response.status_code == 200, asset
        if hasattr(response, "close"):
            response.close()


@pytest.mark.parametrize(
    "path, filters",
    [
        ("/api/forms", {"product", "status", "account", "q", "page"}),
        (
            "/api/leads",
            {
                "status",
                "product",
                "account",
                "origin_crm",
                "target_crm",
                "departement",
                "date_from",
                "date_to",
                "cross_crm",
                "phone",
                "email",
                "utm_campaign",
                "cursor",
                "page_size",
            },
        ),
    ],
)
def test_staff_lists_are_documented_with_their_filters_and_auth(schema, path, filters):
    operation = schema["paths"][path]["get"]
    assert filters == {p["name"] for p in operation["parameters"]}
    assert {"200", "400", "401", "403"} <= set(operation["responses"])
    assert {} not in operation["security"], "documented as open to anonymous callers"
    assert {name for requirement in operation["security"] for name in requirement} == {
        "cookieAuth",
        "tokenAuth",
    }
