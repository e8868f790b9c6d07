from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from enersolar.admin_tools import CSVExportAdmin, ReadOnlyAdmin, ReadOnlyInline
from enersolar.csv_export import csv_response
from routing.models import Order

from .exports import CSV_DELIMITER, statement_csv_rows, statement_pdf
from .models import BudgetTransaction, LeadReturn, Statement, StatementLine
from .selectors import budget_level, budget_level_label, cross_crm_summary
from .services import BillingError, budget_topup, lead_return, statements_issue


class StatementLineInline(ReadOnlyInline):
    model = StatementLine
    fields = ["kind", "lead", "delivered_at", "product", "departement", "amount"]


@admin.register(Statement)
class StatementAdmin(CSVExportAdmin, ReadOnlyAdmin):
    change_list_template = "admin/billing/statement/change_list.html"
    list_display = [
        "number",
        "period",
        "creditor",
        "debtor",
        "lead_count",
        "credit_count",
        "total",
        "issued_at",
        "downloads",
    ]
    list_filter = ["period", "creditor", "debtor"]
    list_select_related = ["creditor", "debtor"]
    inlines = [StatementLineInline]
    fields = [
        "number",
        "period",
        "creditor",
        "debtor",
        "issued_at",
        "lead_count",
        "credit_count",
        "total",
    ]

    @admin.display(description=_("export"))
    def downloads(self, obj):
        return format_html(
            '<a href="{}">CSV</a> · <a href="{}">PDF</a>',
            reverse("admin:billing_statement_csv", args=[obj.pk]),
            reverse("admin:billing_statement_pdf", args=[obj.pk]),
        )

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/csv/", view(self.csv_view), name="billing_statement_csv"),
            path("<int:pk>/pdf/", view(self.pdf_view), name="billing_statement_pdf"),
            path("issue/", view(require_POST(self.issue_view)), name="billing_statement_issue"),
            path("overview/", view(self.overview_view), name="billing_overview"),
            *super().get_urls(),
        ]

    def csv_view(self, request, pk):
        statement = get_object_or_404(Statement.objects.select_related("creditor", "debtor"), pk=pk)
        if not self.has_view_permission(request, statement):
            raise PermissionDenied
        return csv_response(
            statement_csv_rows(statement),
            filename=f"{statement.number}.csv",
            delimiter=CSV_DELIMITER,
        )

    def pdf_view(self, request, pk):
        statement = get_object_or_404(Statement.objects.select_related("creditor", "debtor"), pk=pk)
        if not self.has_view_permission(request, statement):
            raise PermissionDenied
        response = HttpResponse(statement_pdf(statement), content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="{statement.number}.pdf"'
        return response

    def issue_view(self, request):
        if not request.user.has_perm("billing.add_statement"):
            messages.error(request, _("You may not issue statements."))
            return redirect("admin:billing_statement_changelist")
        last_month = timezone.localdate().replace(day=1) - timedelta(days=1)
        try:
            issued = statements_issue(period=last_month, user=request.user)
        except BillingError as exc:
            messages.error(request, str(exc))
        else:
            self.message_user(
                request,
                _("%(n)d statement(s) issued for %(month)s.")
                % {"n": len(issued), "month": f"{last_month:%m/%Y}"},
            )
        return redirect("admin:billing_statement_changelist")

    def overview_view(self, request):
        """The billing page: balances per CRM for a period, pairs, budgets,
        statements and the latest ledger entries."""
        if not self.has_view_permission(request):
            raise PermissionDenied  # billing is the Admins' (enersolar/roles.py)
        days = {"7": 7, "30": 30, "90": 90}.get(request.GET.get("days", "30"), 30)
        end = timezone.now()
        summary = cross_crm_summary(end - timedelta(days=days), end)
        peak = max([abs(b.net) for b in summary.crms] + [1])
        budgets = [
            (order, budget_level(order), budget_level_label(budget_level(order)))
            for order in Order.objects.filter(prepaid_total__gt=0).select_related(
                "crm", "product_type"
            )
        ]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Billing between CRMs"),
            "days": days,
            "summary": summary,
            "bars": [(b, int(abs(b.net) / peak * 100)) for b in summary.crms],
            "budgets": budgets,
            "statements": Statement.objects.select_related("creditor", "debtor")[:10],
            "transactions": BudgetTransaction.objects.select_related("order__crm")[:15],
        }
        return TemplateResponse(request, "admin/billing/overview.html", context)


class TopUpForm(forms.ModelForm):
    class Meta:
        model = BudgetTransaction
        fields = ["order", "amount", "note"]

    def clean_amount(self):
        # Checked here, where the admin shows it: save_model is too late
        # (an error raised there is a server error, not a form error).
        amount = self.cleaned_data["amount"]
        if amount is not None and amount <= 0:
            raise forms.ValidationError(_("A top-up must be a positive amount."))
        return amount


@admin.register(BudgetTransaction)
class BudgetTransactionAdmin(CSVExportAdmin, admin.ModelAdmin):
    """The ledger: staff add top-ups; consumptions and refunds come from
    deliveries and returns. Nothing is edited or deleted."""

    form = TopUpForm
    list_display = ["created_at", "order", "kind", "amount", "lead", "created_by", "note"]
    list_filter = ["kind", "order__crm"]
    list_select_related = ["order__crm", "order__product_type", "created_by"]
    raw_id_fields = ["lead"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        try:
            entry = budget_topup(
                order=obj.order, amount=obj.amount, user=request.user, note=obj.note
            )
        except BillingError as exc:
            raise forms.ValidationError(str(exc)) from exc
        form.instance = entry
        # The admin journals `obj` (Recent actions): the row as written, its kind included.
        obj.pk, obj.kind, obj.created_by = entry.pk, entry.kind, entry.created_by
        obj.created_at = entry.created_at


@admin.register(LeadReturn)
class LeadReturnAdmin(CSVExportAdmin, ReadOnlyAdmin):
    list_display = ["returned_at", "lead", "reason", "returned_by", "credited_on"]
    list_select_related = ["returned_by", "credited_on"]
    raw_id_fields = ["lead"]


class ReturnForm(forms.Form):
    reason = forms.CharField(label=_("Reason given by the buyer"), max_length=500)


# What billing adds to the lead and order admins (assembled in backoffice/admin.py).


class LeadReturnMixin:
    """The "Return" action (`return_leads`): the buyer refused these leads."""

    @admin.action(description=_("Return (buyer refused the lead)"), permissions=["return"])
    def return_leads(self, request, queryset):
        form = ReturnForm(request.POST if "reason" in request.POST else None)
        if not form.is_valid():
            return TemplateResponse(
                request,
                "admin/billing/return_leads.html",
                {
                    **self.admin_site.each_context(request),
                    "opts": self.opts,
                    "form": form,
                    "leads": queryset,
                    "title": _("Return leads"),
                    "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                },
            )
        done = 0
        for lead in queryset:
            try:
                lead_return(lead=lead, reason=form.cleaned_data["reason"], user=request.user)
                done += 1
            except BillingError as exc:
                self.message_user(request, f"{lead.pk}: {exc}", messages.WARNING)
        self.message_user(request, _("%(n)d lead(s) returned.") % {"n": done})
        return None

    def has_return_permission(self, request):
        return request.user.has_perm("billing.add_leadreturn")


ORDER_BUDGET_COLUMNS = ["prepaid_balance", "budget"]


class OrderBudgetMixin:
    """An order's prepaid budget: its columns (ORDER_BUDGET_COLUMNS), read-only here."""

    readonly_fields = ["prepaid_balance", "prepaid_total"]

    @admin.display(description=_("budget level"))
    def budget(self, obj):
        return budget_level_label(budget_level(obj)) if obj.prepaid_total else "—"
