"""The forms' card view (SPEC §8, like a form builder's): the Forms entry of
the admin opens cards with each form's counters and actions; the classic
list (bulk actions, export) stays at ?view=list."""

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.admin.views.main import IS_POPUP_VAR, TO_FIELD_VAR, ChangeList
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from enersolar.models import Account, ProductType

from .filters import FormFilter
from .models import Form
from .selectors import form_stats, forms_with_stats
from .services import form_archive, form_duplicate, form_stats_reset

VIEW_PARAM = "view"
CARDS_PER_PAGE = 48
STATUS_CHOICES = [
    ("active", _("Active")),
    ("archived", _("Archived")),
    ("all", _("All")),
]
RESET_PERMISSION = "tracking.reset_form_stats"


class ClassicFormList(ChangeList):
    """The classic list at ?view=list. `view` is no filter: kept out of the
    lookups but left in the parameters, so that every link the list builds
    (filters, pages, sorting, search) stays on the classic list."""

    def get_filters_params(self, params=None):
        lookup_params = super().get_filters_params(params)
        lookup_params.pop(VIEW_PARAM, None)
        return lookup_params


class FormCardsMixin:
    """For the Form admin: the card page, and its per-card actions."""

    def get_changelist(self, request, **kwargs):
        return ClassicFormList

    def changelist_view(self, request, extra_context=None):
        # Actions post to the list; raw-id pop-ups (e.g. a lead's form) need
        # the classic list to pick a row from.
        classic = (
            request.method == "POST"
            or request.GET.get(VIEW_PARAM) == "list"
            or IS_POPUP_VAR in request.GET
            or TO_FIELD_VAR in request.GET
        )
        if classic:
            return super().changelist_view(request, extra_context)
        return self.cards_view(request)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "<int:pk>/card-duplicate/",
                view(require_POST(self.card_duplicate_view)),
                name="tracking_form_card_duplicate",
            ),
            path(
                "<int:pk>/card-archive/",
                view(require_POST(self.card_archive_view)),
                name="tracking_form_card_archive",
            ),
            path(
                "<int:pk>/reset-stats/",
                view(self.reset_stats_view),
                name="tracking_form_reset_stats",
            ),
            *super().get_urls(),
        ]

    def cards_view(self, request):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        params = request.GET
        product = params.get("product", "")
        status = params.get("status", "active")
        if status not in dict(STATUS_CHOICES):
            status = "active"
        account = params.get("account", "")
        search = params.get("q", "").strip()

        # The API's filters; the cards only add their default, the active forms.
        filtered = FormFilter(
            {
                "product": product,
                "status": "" if status == "all" else status,
                "account": account,
                "q": search,
            },
            queryset=Form.objects.select_related("product_type", "account", "landing_page"),
        )
        forms = filtered.qs
        # The counters of the whole page come in the one query that reads its forms.
        forms = forms_with_stats(forms).order_by("code")
        page = Paginator(forms, CARDS_PER_PAGE).get_page(params.get("page"))

        def query(**changes) -> str:
            merged = {"product": product, "status": status, "account": account, "q": search}
            merged.update(changes)
            return "?" + urlencode({k: v for k, v in merged.items() if v})

        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Forms"),
            "page": page,
            "forms": page.object_list,
            "products": [
                (p.code, p.name, query(product=p.code))
                for p in ProductType.objects.order_by("code")
            ],
            "all_products_url": query(product=""),
            "product": product,
            "statuses": [(v, label, query(status=v)) for v, label in STATUS_CHOICES],
            "status": status,
            "accounts": Account.objects.order_by("name").values_list("pk", "name"),
            "account": account,
            "search": search,
            "page_query": query(),
            "current_url": request.get_full_path(),
            "can_add": self.has_add_permission(request),
            "can_change": self.has_change_permission(request),
            "can_reset": request.user.has_perm(RESET_PERMISSION),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/tracking/form/cards.html", context)

    def _back(self, request):
        target = request.POST.get("next", "")
        if url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            return redirect(target)
        return redirect("admin:tracking_form_changelist")

    def card_duplicate_view(self, request, pk):
        form_obj = get_object_or_404(Form, pk=pk)
        if not self.has_add_permission(request):
            raise PermissionDenied
        copy = form_duplicate(form=form_obj, user=request.user)
        self.message_user(request, _("Created: %(codes)s") % {"codes": copy.code}, messages.SUCCESS)
        return self._back(request)

    def card_archive_view(self, request, pk):
        form_obj = get_object_or_404(Form, pk=pk)
        if not self.has_change_permission(request, form_obj):
            raise PermissionDenied
        form_archive(form=form_obj, user=request.user)
        self.message_user(
            request, _("%(code)s archived.") % {"code": form_obj.code}, messages.SUCCESS
        )
        return self._back(request)

    def reset_stats_view(self, request, pk):
        """GET: what will be kept; POST: snapshot and reset. Admins only."""
        form_obj = get_object_or_404(
            Form.objects.select_related("product_type", "account", "landing_page"), pk=pk
        )
        if not request.user.has_perm(RESET_PERMISSION):
            raise PermissionDenied
        if request.method == "POST":
            snapshot = form_stats_reset(form=form_obj, user=request.user)
            self.message_user(
                request,
                _(
                    "Stats of %(code)s reset: %(started)d started, %(finished)d finished "
                    "kept in its history."
                )
                % {
                    "code": form_obj.code,
                    "started": snapshot.started,
                    "finished": snapshot.finished,
                },
                messages.SUCCESS,
            )
            return self._back(request)
        stats = form_stats(form_obj)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": form_obj,
            "stats": stats,
            "snapshots": form_obj.stats_snapshots.select_related("reset_by")[:10],
            "next": request.GET.get("next", ""),
            "title": _("Reset the stats of %(code)s") % {"code": form_obj.code},
        }
        return TemplateResponse(request, "admin/tracking/form/reset_stats.html", context)
