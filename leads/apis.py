"""Lead intake endpoints: public form submissions and the partner API."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from enersolar.authentication import ApiKeyAuthentication
from enersolar.http import LeadRateThrottle, PartnerRateThrottle, client_ip
from enersolar.serializers import OptionalText
from tracking.apis import ERROR_SCHEMA, ERRORS, PublicAPIView

from .models import Lead
from .services import IntakeResult, lead_receive


class LeadFieldsInput(serializers.Serializer):
    """Legacy field names, kept: landing pages in production send them."""

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


class PublicLeadInput(LeadFieldsInput):
    session_id = serializers.CharField(max_length=64)
    form_code = serializers.CharField(max_length=50)


class PartnerLeadInput(LeadFieldsInput):
    product_type = OptionalText(10)

    def validate(self, attrs):
        if not attrs.get("form_code") and not attrs.get("product_type"):
            raise serializers.ValidationError(
                {"form_code": "Give form_code or product_type to identify the product."}
            )
        return attrs


class LeadOutput(serializers.Serializer):
    success = serializers.BooleanField()
    lead_id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=Lead.Status.choices)
    crm = serializers.CharField(allow_null=True)
    message = serializers.CharField()
    stored = serializers.BooleanField(required=False)
    warning = serializers.CharField(required=False)


WARNINGS = {
    Lead.Status.ORPHAN: "Form not found: the lead is stored but will not be delivered.",
    Lead.Status.INVALID_PHONE: "Invalid phone number: the lead is stored but will not be "
    "delivered.",
    Lead.Status.MISSING_REQUIRED: "Missing or invalid required field: the lead is stored but "
    "will not be delivered.",
    Lead.Status.DOUBLE_SUBMIT: "Submitted twice within a few seconds: the first submission counts.",
    Lead.Status.DUPLICATE_INTERNAL: "This person already asked for this product recently: the "
    "lead is stored but will not be delivered.",
}


def intake_answer(result: IntakeResult) -> Response:
    lead = result.lead
    body = {
        "success": True,
        "lead_id": str(result.answer_lead_id),
        "status": lead.status,
        "crm": result.crm,
        "message": "Lead received." if result.will_be_delivered else "Lead stored.",
    }
    if not result.will_be_delivered:
        body["stored"] = True
        body["warning"] = WARNINGS.get(lead.status, "The lead will not be delivered.")
        body["reasons"] = lead.reasons
    return Response(body)


class PublicLeadApi(PublicAPIView):
    throttle_classes = [LeadRateThrottle]

    @extend_schema(
        operation_id="public_lead_submit",
        tags=["lead intake"],
        request=PublicLeadInput,
        responses={200: LeadOutput, **ERRORS},
        summary="Submit a lead from a form (stored whatever is wrong with it)",
        description="Needs `session_id`, `form_code` and `phone`; anything else is stored and "
        "classified (SPEC §3.1). Leads that will not be delivered answer `stored: true` with "
        "a `warning`.",
    )
    def post(self, request):
        data = self.validated(PublicLeadInput, request)
        return intake_answer(lead_receive(data=data, ip=client_ip(request)))


class HasPartnerKey(BasePermission):
    """Authentication already rejects a missing or bad key; saying so here
    also keeps the OpenAPI schema from listing the endpoint as open."""

    def has_permission(self, request, view):
        return request.auth is not None


class PartnerLeadApi(PublicAPIView):
    authentication_classes = [ApiKeyAuthentication]
    throttle_classes = [PartnerRateThrottle]
    permission_classes = [HasPartnerKey]

    @extend_schema(
        operation_id="partner_lead_submit",
        tags=["lead intake"],
        request=PartnerLeadInput,
        responses={200: LeadOutput, 401: OpenApiResponse(ERROR_SCHEMA), **ERRORS},
        summary="Submit a lead server-to-server with an account API key",
    )
    def post(self, request):
        data = self.validated(PartnerLeadInput, request)
        result = lead_receive(
            data=data, ip=client_ip(request), source=Lead.Source.PARTNER, api_key=request.auth
        )
        return intake_answer(result)
