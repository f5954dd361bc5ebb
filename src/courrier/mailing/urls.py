from django.urls import include, path

from courrier.mailing import batch_views, message_views, views

app_name = "mailing"
urlpatterns = [
    path("ma-fiche/", views.my_profile, name="my_profile"),
    path("ma-fiche/tester/", views.profile_test, name="profile_test"),
    path("ecrire/", views.compose, name="compose"),
    path("ecrire/apercu/", views.preview, name="preview"),
    path("ecrire/modele/", views.template_load, name="template_load"),
    path("ecrire/verifier/", views.presend, name="presend"),
    path("ecrire/fichiers/", views.upload, name="upload"),
    path(
        "ecrire/sauver-modele/",
        views.template_save_from_compose,
        name="template_save_from_compose",
    ),
    path("envois-groupes/<int:pk>/", batch_views.batch_progress, name="batch_progress"),
    path("messages/<int:pk>/", views.message_detail, name="message_detail"),
    path("messages/<int:pk>/eml/", views.message_eml, name="message_eml"),
    path(
        "messages/<int:pk>/pieces-jointes/<int:index>/",
        message_views.message_attachment,
        name="message_attachment",
    ),
    path("messages/<int:pk>/annuler/", views.message_cancel, name="message_cancel"),
    path("messages/<int:pk>/renvoyer/", views.message_retry, name="message_retry"),
    path("messages/<int:pk>/renvoyer-copie/", views.message_resend, name="message_resend"),
    path("boite-de-sortie/", views.outbox, name="outbox"),
    path("non-remis/", views.undelivered, name="undelivered"),
    path("societes/<int:pk>/envoi/", views.company_profile, name="company_profile"),
    path("modeles/", views.templates, name="templates"),
    path("modeles/nouveau/", views.template_create, name="template_create"),
    path("modeles/champs/", views.template_fields, name="template_fields"),
    path("modeles/<int:pk>/", views.template_edit, name="template_edit"),
    path("oauth/", include("courrier.mailing.oauth.urls")),
    path("webhooks/", include("courrier.mailing.webhooks.urls")),
    path("textes/", include("courrier.mailing.phrase_urls")),
]
