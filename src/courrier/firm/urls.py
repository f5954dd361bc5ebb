from django.urls import path

from courrier.firm import views

app_name = "firm"
urlpatterns = [
    path("parametres/", views.FirmSettingsView.as_view(), name="settings"),
    path("societes/", views.BillingCompanyListView.as_view(), name="companies"),
    path("societes/nouvelle/", views.BillingCompanyCreateView.as_view(), name="company_create"),
    path("societes/<int:pk>/", views.BillingCompanyUpdateView.as_view(), name="company_edit"),
    path("collaborateurs/", views.CollaboratorListView.as_view(), name="collaborators"),
    path(
        "collaborateurs/<int:pk>/",
        views.CollaboratorUpdateView.as_view(),
        name="collaborator_edit",
    ),
    path("journal/", views.audit_log, name="audit"),
    path(
        "collaborateurs/<int:pk>/mot-de-passe/",
        views.CollaboratorPasswordSetView.as_view(),
        name="collaborator_password",
    ),
    path(
        "collaborateurs/<int:pk>/debloquer/",
        views.collaborator_unlock_view,
        name="collaborator_unlock",
    ),
]
