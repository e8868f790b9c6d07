"""Demo pages for the brief: a landing page, a form page, an integrated page and
a thank-you page, each running the script the brief generates for the form.

They serve the browser tests and the demo; like the sandbox buyer they exist
only when SANDBOX_ENABLED (off in production unless asked for)."""

from functools import wraps

from django.conf import settings
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET

from tracking.brief import js_literal, script_render
from tracking.models import Form, LandingPage

HERO_TITLES = {
    "PV": "Produisez votre propre électricité avec des panneaux solaires",
    "PAC": "Divisez votre facture de chauffage avec une pompe à chaleur",
    "ITE": "Isolez votre maison par l'extérieur, avec les aides de l'État",
}


def sandbox_only(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not settings.SANDBOX_ENABLED:
            raise Http404
        return view(request, *args, **kwargs)

    return require_GET(wrapper)


def _active_forms():
    return Form.objects.filter(status=Form.Status.ACTIVE).select_related(
        "account", "product_type", "landing_page"
    )


def _form_of_landing_page(lp_code: str) -> Form:
    landing_page = get_object_or_404(LandingPage, code=lp_code)
    form = _active_forms().filter(landing_page=landing_page).order_by("-id").first()
    if form is None:
        raise Http404("No active form on this landing page")
    return form


def _page(request, template: str, form: Form, script: str, **extra):
    context = {
        "form": form,
        "landing_page": form.landing_page,
        "account": form.account,
        "hero_title": HERO_TITLES.get(form.product_type.code, form.landing_page.name),
        # Safe inside <script>: the generator escapes every value it puts in.
        "script": mark_safe(script),
        **extra,
    }
    return render(request, template, context)


@sandbox_only
def demo_index(request):
    return render(
        request,
        "demo/index.html",
        {"forms": _active_forms().order_by("code"), "api_base": settings.PUBLIC_BASE_URL},
    )


@sandbox_only
def demo_landing_page(request, lp_code: str):
    form = _form_of_landing_page(lp_code)
    form_url = settings.PUBLIC_BASE_URL + reverse("demo-form", args=[form.code])
    script = script_render(form, kind="lp", form_url=form_url)
    return _page(
        request, "demo/lp.html", form, script, form_url=form_url, form_url_js=js_literal(form_url)
    )


@sandbox_only
def demo_landing_page_by_url(request, slug: str):
    """The URL seed_demo gives its landing pages (/demo/pv/ …): their demo page."""
    landing_page = LandingPage.objects.filter(url__endswith=request.path).order_by("code").first()
    if landing_page is None:
        raise Http404
    return redirect("demo-lp", landing_page.code)


@sandbox_only
def demo_form(request, form_code: str):
    form = get_object_or_404(_active_forms(), code=form_code)
    return _page(request, "demo/form.html", form, script_render(form, kind="form"))


@sandbox_only
def demo_integrated(request, lp_code: str):
    form = _form_of_landing_page(lp_code)
    return _page(request, "demo/integrated.html", form, script_render(form, kind="integrated"))


@sandbox_only
def thank_you(request):
    """The thank-you page loads the brief's thank-you script, as the brief asks:
    it sends the leads the form page could not. The script needs only the API's
    address; any active form builds it."""
    form = _active_forms().order_by("code").first()
    # Safe inside <script>: the generator escapes every value it puts in.
    script = mark_safe(script_render(form, kind="thank_you")) if form else ""
    return render(request, "demo/merci.html", {"account": None, "script": script})
