from django.contrib import admin, messages
from django.core.exceptions import ObjectDoesNotExist
from django.db import transaction
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.urls import path
from django.utils.html import format_html, format_html_join, mark_safe
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from enersolar.admin_tools import (
    CSVExportAdmin,
    DestinationFieldsMixin,
    JournaledAdmin,
    ReadOnlyAdmin,
    ReadOnlyInline,
    SecretFieldsForm,
)
from enersolar.models import CRM
from leads.models import Lead

from .models import (
    CRMHealth,
    DefaultPrice,
    Delivery,
    DeliveryAttempt,
    Order,
    VerificationReport,
)
from .selectors import cross_crm_condition, leads_cross_crm, leads_routed_to
from .services.queue import held_leads_release, lead_retry, queue_process, queue_retry_exhausted
from .services.verification import verification_run
from .tasks import dispatch_leads, dispatch_queue_run


class OrderForm(SecretFieldsForm):
    secret_fields = ("api_key",)

    class Meta:
        model = Order
        fields = "__all__"


class OrderAdminBase(DestinationFieldsMixin, JournaledAdmin):
    """Orders as routing knows them; backoffice/admin.py registers the Order
    admin with billing's budget columns added."""

    form = OrderForm
    list_display = [
        "__str__",
        "crm",
        "product_type",
        "unit_price",
        "priority",
        "is_active",
        "starts_on",
        "ends_on",
        "cap_daily",
        "api_key_masked",
    ]
    list_filter = ["is_active", "crm", "product_type"]
    search_fields = ["name", "crm__name"]
    list_select_related = ["crm", "product_type"]
    filter_horizontal = ["departments"]

    def save_model(self, request, obj, form, change):
        activated = obj.is_active and (not change or "is_active" in form.changed_data)
        super().save_model(request, obj, form, change)
        if activated:
            # A new or re-activated order may take leads held for want of one.
            count = held_leads_release(product_type_id=obj.product_type_id)
            if count:
                transaction.on_commit(dispatch_queue_run)
                self.message_user(
                    request, _("%(n)d held lead(s) will be routed again.") % {"n": count}
                )


@admin.register(DefaultPrice)
class DefaultPriceAdmin(CSVExportAdmin, JournaledAdmin):
    list_display = ["crm", "product_type", "unit_price"]
    list_filter = ["crm", "product_type"]


class DeliveryAttemptInline(ReadOnlyInline):
    model = DeliveryAttempt
    fields = [
        "attempted_at",
        "crm",
        "http_status",
        "duration_ms",
        "outcome",
        "error",
        "answer_excerpt",
    ]
    readonly_fields = ["answer_excerpt"]

    @admin.display(description=_("answer excerpt"))
    def answer_excerpt(self, attempt):
        # The buyer's own words (its JSON, often English): data, shown as code.
        excerpt = attempt.response_excerpt
        return format_html("<code>{}</code>", excerpt) if excerpt else "—"


class DeliveryCrossCRMFilter(admin.SimpleListFilter):
    """Cross-CRM deliveries by the one definition (selectors.cross_crm_condition),
    not by the routing source."""

    title = _("cross-CRM (outside the origin CRM)")
    parameter_name = "cross_crm"

    def lookups(self, request, model_admin):
        return [("yes", _("yes")), ("no", _("no"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(cross_crm_condition())
        if self.value() == "no":
            return queryset.exclude(cross_crm_condition())
        return queryset


@admin.register(Delivery)
class DeliveryAdmin(CSVExportAdmin, ReadOnlyAdmin):
    change_list_template = "admin/routing/delivery/change_list.html"
    list_display = [
        "lead",
        "crm",
        "state",
        "attempts",
        "next_attempt_at",
        "last_error",
        "source",
        "cross_crm",
        "unit_price",
        "routed_at",
    ]
    list_filter = ["state", "crm", "source", DeliveryCrossCRMFilter]
    list_select_related = ["lead", "crm"]
    search_fields = ["=lead__id", "=lead__phone"]
    show_full_result_count = False
    inlines = [DeliveryAttemptInline]
    actions = ["retry"]
    fields = [
        "lead",
        "origin_crm",
        "crm",
        "source",
        "reason",
        "order",
        "unit_price",
        "routed_at",
        "state",
        "attempts",
        "next_attempt_at",
        "claimed_at",
        "last_error",
        "delivered_at",
    ]

    @admin.display(description=_("cross-CRM (outside the origin CRM)"), boolean=True)
    def cross_crm(self, obj: Delivery) -> bool:
        return obj.is_cross_crm

    @admin.action(description=_("Relancer (send again now)"), permissions=["retry"])
    def retry(self, request, queryset):
        sent = sum(lead_retry(lead=d.lead, user=request.user) for d in queryset)
        self.message_user(request, _("%(n)d lead(s) sent again.") % {"n": sent})

    def has_retry_permission(self, request):
        return request.user.has_perm("routing.retry_lead")

    def get_urls(self):
        return [
            path(
                "process/",
                self.admin_site.admin_view(require_POST(self.process_view)),
                name="routing_delivery_process",
            ),
            path(
                "retry-exhausted/",
                self.admin_site.admin_view(require_POST(self.retry_exhausted_view)),
                name="routing_delivery_retry_exhausted",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_manage_queue": request.user.has_perm("routing.manage_queue"),
        }
        return super().changelist_view(request, extra_context)

    def process_view(self, request):
        if not request.user.has_perm("routing.manage_queue"):
            messages.error(request, _("You may not process the queue."))
        else:
            from enersolar.models import ActivityLog
            from enersolar.services import journal_record

            run = queue_process(dispatch=dispatch_leads)
            journal_record(
                user=request.user,
                action=ActivityLog.Action.QUEUE_ACTION,
                details={"action": "process", **run.__dict__},
            )
            self.message_user(
                request,
                _(
                    "Queue processed: %(dispatched)d sent to workers, %(released)d released, "
                    "%(swept)d re-dispatched, %(expired)d expired."
                )
                % run.__dict__,
            )
        return redirect("admin:routing_delivery_changelist")

    def retry_exhausted_view(self, request):
        if not request.user.has_perm("routing.manage_queue"):
            messages.error(request, _("You may not reset exhausted items."))
        else:
            count = queue_retry_exhausted(user=request.user)
            transaction.on_commit(dispatch_queue_run)
            self.message_user(
                request, _("%(n)d exhausted item(s) back in the queue.") % {"n": count}
            )
        return redirect("admin:routing_delivery_changelist")


@admin.register(CRMHealth)
class CRMHealthAdmin(CSVExportAdmin, ReadOnlyAdmin):
    list_display = ["crm", "state", "consecutive_failures", "opened_at", "changed_at"]
    list_filter = ["state"]


@admin.register(VerificationReport)
class VerificationReportAdmin(CSVExportAdmin, ReadOnlyAdmin):
    change_list_template = "admin/routing/verificationreport/change_list.html"
    list_display = [
        "started_at",
        "triggered_by",
        "total_leads",
        "retried",
        "rerouted",
        "recovered",
        "still_failing",
        "permanent_errors",
        "expired",
    ]
    fields = [
        "started_at",
        "finished_at",
        "window_start",
        "window_end",
        "triggered_by",
        "total_leads",
        "counts_in_words",
        "retried",
        "rerouted",
        "redispatched",
        "recovered",
        "still_failing",
        "permanent_errors",
        "expired",
        "anomalies_in_words",
    ]

    @admin.display(description=_("counts by status and CRM"))
    def counts_in_words(self, report):
        statuses = dict(Lead.Status.choices)
        rows = [
            (
                statuses.get(status, status),
                ", ".join(f"{crm} : {n}" for crm, n in sorted(by_crm.items())),
            )
            for status, by_crm in sorted(report.counts.items())
        ]
        return format_html_join(mark_safe("<br>"), "{} — {}", rows) or "—"

    @admin.display(description=_("anomalies"))
    def anomalies_in_words(self, report):
        return format_html_join(mark_safe("<br>"), "{} : {}", report.anomalies_described()) or "—"

    def get_urls(self):
        return [
            path(
                "run/",
                self.admin_site.admin_view(require_POST(self.run_view)),
                name="routing_verificationreport_run",
            ),
            *super().get_urls(),
        ]

    def run_view(self, request):
        if not request.user.has_perm("routing.run_verification"):
            messages.error(request, _("You may not run the verification."))
            return redirect("admin:routing_verificationreport_changelist")
        report = verification_run(triggered_by=request.user.get_username(), user=request.user)
        self.message_user(
            request, _("Verification done: %(n)d leads checked.") % {"n": report.total_leads}
        )
        return redirect("admin:routing_verificationreport_change", report.pk)


class TargetCRMFilter(admin.SimpleListFilter):
    title = _("target CRM")
    parameter_name = "target_crm"

    def lookups(self, request, model_admin):
        return list(CRM.objects.values_list("slug", "name"))

    def queryset(self, request, queryset):
        return leads_routed_to(queryset, crm_slug=self.value()) if self.value() else queryset


class CrossCRMFilter(admin.SimpleListFilter):
    """Delivered outside the lead's origin CRM (selectors.cross_crm_condition)."""

    title = _("cross-CRM (outside the origin CRM)")
    parameter_name = "cross_crm"

    def lookups(self, request, model_admin):
        return [("yes", _("yes")), ("no", _("no"))]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return leads_cross_crm(queryset, cross=self.value() == "yes")
        return queryset


# What routing adds to the lead admin (assembled in backoffice/admin.py).
LEAD_DELIVERY_FILTERS = [TargetCRMFilter, CrossCRMFilter]
# The delivery and its CRM joined to each row of the list (the target_crm column).
LEAD_DELIVERY_SELECT_RELATED = ["delivery__crm"]


class LeadDeliveryMixin:
    """The lead's delivery and its attempts, and the "Relancer" action (`retry`)."""

    def get_fieldsets(self, request, obj=None):
        return [
            *super().get_fieldsets(request, obj),
            (_("Delivery"), {"fields": ["delivery_panel"]}),
        ]

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "delivery_panel"]

    @admin.display(description=_("Routing and attempts"))
    def delivery_panel(self, obj):
        delivery = (
            Delivery.objects.select_related("crm", "origin_crm", "order").filter(pk=obj.pk).first()
        )
        attempts = delivery.attempt_log.select_related("crm") if delivery else []
        return render_to_string(
            "admin/routing/lead_delivery_panel.html", {"delivery": delivery, "attempts": attempts}
        )

    @admin.display(description=_("target CRM"), ordering="delivery__crm__name")
    def target_crm(self, obj):
        """The CRM the lead was routed to; the list's "-" before routing (held, rejected)."""
        try:
            return obj.delivery.crm
        except ObjectDoesNotExist:
            return None

    @admin.action(description=_("Relancer (send again now)"), permissions=["retry"])
    def retry(self, request, queryset):
        sent = sum(lead_retry(lead=lead, user=request.user) for lead in queryset)
        self.message_user(request, _("%(n)d lead(s) sent again.") % {"n": sent})

    def has_retry_permission(self, request):
        return request.user.has_perm("routing.retry_lead")
