"""The admin site: its index is the dashboard; the departments dashboard
and its CSV export are pages of the site (they belong to no single model)."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseBadRequest
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from enersolar.csv_export import csv_response
from enersolar.france import DEPARTMENTS
from enersolar.http import AdminLoginThrottle

from . import selectors
from .charts import ranked_bars
from .dashboard import dashboard_build
from .forms import DepartmentsFilterForm
from .menu import DEPARTMENTS_PERMISSION, menu_build

CHART_DEPARTMENTS = 30  # bars in the ranked chart; the table lists them all


class EnerSolarAdminSite(admin.AdminSite):
    def login(self, request, extra_context=None):
        if request.method == "POST" and not AdminLoginThrottle().allow_request(request, None):
            return HttpResponse(
                gettext("Too many login attempts from your address. Try again later."),
                status=429,
                content_type="text/plain; charset=utf-8",
            )
        return super().login(request, extra_context)

    def get_urls(self):
        return [
            path(
                "dashboard/widgets/",
                self.admin_view(self.dashboard_widgets_view),
                name="dashboard_widgets",
            ),
            path("departments/", self.admin_view(self.departments_view), name="departments"),
            path(
                "departments/export.csv",
                self.admin_view(self.departments_csv_view),
                name="departments_csv",
            ),
            *super().get_urls(),
        ]

    def get_app_list(self, request, app_label=None):
        """The menu (sidebar and index) in sections ordered by use
        (backoffice/menu.py); an app's own page (/admin/<app>/) keeps its app."""
        app_list = super().get_app_list(request, app_label)
        if app_label is not None:
            return app_list
        return menu_build(app_list, request.user, self.name)

    # --- Dashboard (the index) ---------------------------------------------------

    def index(self, request, extra_context=None):
        dashboard = dashboard_build(user=request.user, now=timezone.now())
        return super().index(request, {"dashboard": dashboard, **(extra_context or {})})

    def dashboard_widgets_view(self, request):
        """The widgets alone: what the page's script fetches to refresh them."""
        dashboard = dashboard_build(user=request.user, now=timezone.now())
        return TemplateResponse(
            request, "admin/backoffice/dashboard_widgets.html", {"dashboard": dashboard}
        )

    # --- Departments dashboard -------------------------------------------------------

    def departments_view(self, request):
        if not request.user.has_perm(DEPARTMENTS_PERMISSION):
            raise PermissionDenied
        form = DepartmentsFilterForm(request.GET, now=timezone.now())
        context = {
            **self.each_context(request),
            "title": _("Leads per department"),
            "form": form,
        }
        if form.is_valid():
            counts = selectors.department_counts(**form.selection())
            names = DEPARTMENTS
            by_product = counts.by_department_product()
            products = selectors.product_codes()
            # Products no longer configured but present in old leads keep a column.
            products += sorted({p for _, p in by_product} - set(products))
            context.update(
                counts=counts,
                products=products,
                product_totals=[counts.by_product().get(p, 0) for p in products],
                bars=ranked_bars(
                    {
                        _department_label(code, names): n
                        for code, n in counts.by_department().items()
                    },
                    limit=CHART_DEPARTMENTS,
                ),
                rows=[
                    {
                        "label": _department_label(code, names),
                        "counts": [by_product.get((code, p), 0) for p in products],
                        "total": total,
                    }
                    for code, total in sorted(counts.by_department().items())
                ],
                export_query=request.GET.urlencode(),
            )
        return TemplateResponse(request, "admin/backoffice/departments.html", context)

    def departments_csv_view(self, request):
        if not request.user.has_perm(DEPARTMENTS_PERMISSION):
            raise PermissionDenied
        form = DepartmentsFilterForm(request.GET, now=timezone.now())
        if not form.is_valid():
            return HttpResponseBadRequest(form.errors.as_text())
        counts = selectors.department_counts(**form.selection())
        names = DEPARTMENTS

        def rows():
            yield [
                gettext("department"),
                gettext("department name"),
                gettext("product"),
                gettext("source"),
                gettext("leads"),
            ]
            for (department, product, source), n in sorted(counts.counts.items()):
                yield [department, names.get(department, ""), product, source, n]

        data = form.cleaned_data
        filename = f"leads-departements-{data['date_from']:%Y%m%d}-{data['date_to']:%Y%m%d}.csv"
        return csv_response(rows(), filename=filename)


def _department_label(code: str, names: dict[str, str]) -> str:
    if not code:
        return gettext("unknown")
    return f"{code} – {names[code]}" if code in names else code
