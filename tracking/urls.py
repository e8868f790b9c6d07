from django.urls import path

from . import apis, views

urlpatterns = [
    path("api/public/track/session", apis.SessionStartApi.as_view(), name="track-session"),
    path("api/public/track/lp-visit", apis.LpVisitApi.as_view(), name="track-lp-visit"),
    path("api/public/track/event", apis.EventApi.as_view(), name="track-event"),
    path(
        "api/forms/public/by-lp/<str:lp_code>",
        apis.PublicFormByLandingPageApi.as_view(),
        name="public-form-by-lp",
    ),
    path("api/forms", apis.FormListApi.as_view(), name="forms-list"),
    path("api/forms/<int:pk>/brief", apis.FormBriefApi.as_view(), name="form-brief"),
    path("api/forms/public/<str:code>", apis.PublicFormApi.as_view(), name="public-form"),
    path(
        "api/forms/config/departements", apis.DepartmentsApi.as_view(), name="public-departements"
    ),
    # Demo pages of the brief (only with SANDBOX_ENABLED).
    path("demo/", views.demo_index, name="demo-index"),
    path("demo/lp/<str:lp_code>/", views.demo_landing_page, name="demo-lp"),
    path("demo/form/<str:form_code>/", views.demo_form, name="demo-form"),
    path("demo/integrated/<str:lp_code>/", views.demo_integrated, name="demo-integrated"),
    path("demo/<slug:slug>/", views.demo_landing_page_by_url, name="demo-lp-by-url"),
    path("merci/", views.thank_you, name="demo-thank-you"),
]
