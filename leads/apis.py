"""Lead intake endpoints: public form submissions and the partner API."""

import re

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ParseError
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from enersolar.api import ERROR_SCHEMA, ERRORS, PublicAPIView
from enersolar.api_codes import api_message
from enersolar.authentication import ApiKeyAuthentication
from enersolar.http import LeadRateThrottle, PartnerRateThrottle, client_ip
from enersolar.serializers import OptionalText

from .cleaning import lead_values_clean, missing_fields
from .models import Lead
from .services import ConsentProof, lead_receive


class LeadFieldsInput(serializers.Serializer):
    """Legacy field names, kept: landing pages in production send them. The
    API's documentation: the views coerce rather than refuse (leads.cleaning)."""

    phone = serializers.CharField(max_length=30)
    form_code = OptionalText(50)
    nom = OptionalText(100)
    prenom = OptionalText(100)
    civilite = OptionalText(20)
    email = OptionalText(254)
    departement = OptionalText(10)
    code_postal = OptionalText(10)
    ville = OptionalText(100)
    adresse = OptionalText(255)
    type_logement = OptionalText(50)
    statut_occupant = OptionalText(50)
    surface_habitable = OptionalText(50)
    annee_construction = OptionalText(50)
    type_chauffage = OptionalText(100)
    facture_electricite = OptionalText(50)
    facture_chauffage = OptionalText(50)
    type_projet = OptionalText(100)
    delai_projet = OptionalText(100)
    budget = OptionalText(50)
    rgpd_consent = serializers.BooleanField(required=False, default=True)
    newsletter = serializers.BooleanField(required=False, default=False)
    lp_code = OptionalText(50)
    liaison_code = OptionalText(101)
    utm_campaign = OptionalText(255)
    page_url = OptionalText(2000, help_text="The page the visitor submitted from (consent proof).")
    submission_id = OptionalText(
        100, help_text="Client-generated id of the submission (or the Idempotency-Key header)."
    )


class PublicLeadInput(LeadFieldsInput):
    session_id = serializers.CharField(max_length=64)
    form_code = serializers.CharField(max_length=50)


class PartnerLeadInput(LeadFieldsInput):
    product_type = OptionalText(10)

    def validate(self, attrs):
        if not attrs.get("form_code") and not attrs.get("product_type"):
            raise serializers.ValidationError(
                {"form_code": _("Give form_code or product_type to identify the product.")}
            )
        return attrs


class LeadOutput(serializers.Serializer):
    success = serializers.BooleanField()
    code = serializers.CharField(help_text="`lead_received` (to be delivered) or `lead_stored`.")
    lead_id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=Lead.Status.choices)
    crm = serializers.CharField(allow_null=True)
    message = serializers.CharField()
    stored = serializers.BooleanField(required=False)
    warning = serializers.CharField(required=False)
    reasons = serializers.ListField(child=serializers.CharField(), required=False)


class PartnerLeadOutput(LeadOutput):
    fields = serializers.DictField(
        child=serializers.CharField(),
        required=False,
        help_text="Per field, what was done with its value: coerced, cut, rejected, unknown.",
    )


# A client-generated submission id: a UUID from tracker.js, anything printable
# and short from a partner.
_SUBMISSION_ID = re.compile(r"^[\x21-\x7e]{1,100}$")


class LeadIntakeView(PublicAPIView):
    """Every JSON object with the required fields is stored (leads.cleaning)."""

    source = Lead.Source.PUBLIC
    required: tuple[str, ...] = ()
    answer_notes = False  # the answer says, per field, what was done with it

    def receive(self, request, *, api_key=None, required=None) -> Response:
        body = request.data
        if not isinstance(body, dict):
            raise ParseError(api_message("body_not_object"), "body_not_object")
        missing = missing_fields(body, required or self.required)
        if missing:
            required_error = [_("This field is required.")]
            raise serializers.ValidationError({name: required_error for name in missing})
        cleaned = lead_values_clean(body)
        key = self.idempotency_key(request, cleaned, api_key)
        result = lead_receive(
            data=cleaned.data,
            ip=client_ip(request),
            source=self.source,
            api_key=api_key,
            raw_payload=body,
            value_reasons=cleaned.reasons(),
            consent=ConsentProof(
                user_agent=self.user_agent(request),
                page_url=request.META.get("HTTP_REFERER", ""),
            ),
            idempotency_key=key,
            field_notes=cleaned.notes if self.answer_notes else None,
        )
        headers = {"Idempotent-Replayed": "true"} if result.replayed else None
        return Response(result.answer, headers=headers)

    def idempotency_key(self, request, cleaned, api_key) -> str | None:
        """The submission id, scoped: two partners may pick the same one."""
        key = request.META.get("HTTP_IDEMPOTENCY_KEY") or cleaned.data.get("submission_id")
        if not key:
            return None
        if not _SUBMISSION_ID.match(key):
            cleaned.notes["submission_id"] = _("rejected: 1-100 printable characters, no spaces")
            return None
        return f"partner:{api_key.account_id}:{key}" if api_key else f"public:{key}"


class PublicLeadApi(LeadIntakeView):
    throttle_classes = [LeadRateThrottle]
    required = ("session_id", "form_code", "phone")

    @extend_schema(
        operation_id="public_lead_submit",
        tags=["lead intake"],
        request=PublicLeadInput,
        responses={200: LeadOutput, **ERRORS},
        summary="Submit a lead from a form (stored whatever is wrong with it)",
        description="Needs `session_id`, `form_code` and `phone`; anything else is stored and "
        "classified (SPEC §3.1): values are coerced where their meaning is clear, over-long "
        "text is cut (the whole body is kept as the lead's raw payload), unusable values are "
        "named in `reasons`. Leads that will not be delivered answer `stored: true` with a "
        "`warning`. A repeated `Idempotency-Key` header or `submission_id` answers the first "
        "answer (header `Idempotent-Replayed: true`) and stores nothing.",
    )
    def post(self, request):
        return self.receive(request)


class HasPartnerKey(BasePermission):
    """Authentication already rejects a missing or bad key; saying so here
    also keeps the OpenAPI schema from listing the endpoint as open."""

    def has_permission(self, request, view):
        return request.auth is not None


class PartnerLeadApi(LeadIntakeView):
    authentication_classes = [ApiKeyAuthentication]
    throttle_classes = [PartnerRateThrottle]
    permission_classes = [HasPartnerKey]
    source = Lead.Source.PARTNER
    answer_notes = True

    @extend_schema(
        operation_id="partner_lead_submit",
        tags=["lead intake"],
        request=PartnerLeadInput,
        responses={200: PartnerLeadOutput, 401: OpenApiResponse(ERROR_SCHEMA), **ERRORS},
        summary="Submit a lead server-to-server with an account API key",
        description="Needs `phone` and `form_code` or `product_type`. Stored and classified as "
        "the public submission; the answer's `fields` says, per field, what was coerced, cut "
        "or rejected. `Idempotency-Key` (or `submission_id`) is scoped to the account.",
    )
    def post(self, request):
        body = request.data
        has_product = isinstance(body, dict) and not missing_fields(body, ("product_type",))
        required = ("phone",) if has_product else ("phone", "form_code")
        return self.receive(request, api_key=request.auth, required=required)
