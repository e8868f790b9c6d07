from django.urls import path

from . import sandbox, views

urlpatterns = [
    path(
        "sandbox/crm/<slug:slug>/lead/api/create_lead/",
        sandbox.sandbox_create_lead,
        name="sandbox-create-lead",
    ),
    # Demo pages of the brief (only with SANDBOX_ENABLED).
    path("demo/", views.demo_index, name="demo-index"),
    path("demo/lp/<str:lp_code>/", views.demo_landing_page, name="demo-lp"),
    path("demo/form/<str:form_code>/", views.demo_form, name="demo-form"),
    path("demo/integrated/<str:lp_code>/", views.demo_integrated, name="demo-integrated"),
    path("demo/<slug:slug>/", views.demo_landing_page_by_url, name="demo-lp-by-url"),
    path("merci/", views.thank_you, name="demo-thank-you"),
]
