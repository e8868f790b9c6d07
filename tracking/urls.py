from django.urls import path

from . import apis, form_apis

urlpatterns = [
    path("api/public/track/session", apis.SessionStartApi.as_view(), name="track-session"),
    path("api/public/track/lp-visit", apis.LpVisitApi.as_view(), name="track-lp-visit"),
    path("api/public/track/event", apis.EventApi.as_view(), name="track-event"),
    path(
        "api/forms/public/by-lp/<str:lp_code>",
        apis.PublicFormByLandingPageApi.as_view(),
        name="public-form-by-lp",
    ),
    path("api/forms", form_apis.FormListApi.as_view(), name="forms-list"),
    path("api/forms/<int:pk>/brief", form_apis.FormBriefApi.as_view(), name="form-brief"),
    path("api/forms/public/<str:code>", apis.PublicFormApi.as_view(), name="public-form"),
    path(
        "api/forms/config/departements", apis.DepartmentsApi.as_view(), name="public-departements"
    ),
]
