from django.urls import include, path

from courrier.mailing import frames
from courrier.mailing.views import (
    archive,
    batches,
    compose,
    compose_parts,
    peppol,
    profiles,
    templates,
)

app_name = "mailing"
urlpatterns = [
    path("ma-fiche/", profiles.my_profile, name="my_profile"),
    path("ma-fiche/tester/", profiles.profile_test, name="profile_test"),
    path("ecrire/", compose.compose, name="compose"),
    path("ecrire/apercu/", compose_parts.preview, name="preview"),
    path("ecrire/modele/", compose_parts.template_load, name="template_load"),
    path("ecrire/verifier/", compose_parts.presend, name="presend"),
    path("ecrire/fichiers/", compose_parts.upload, name="upload"),
    path(
        "ecrire/sauver-modele/",
        compose_parts.template_save_from_compose,
        name="template_save_from_compose",
    ),
    path("envois-groupes/<int:pk>/", batches.batch_progress, name="batch_progress"),
    path("cadre/<str:key>/", frames.mail_frame, name="mail_frame"),
    path("messages/<int:pk>/", archive.message_detail, name="message_detail"),
    path("messages/<int:pk>/eml/", archive.message_eml, name="message_eml"),
    path(
        "messages/<int:pk>/pieces-jointes/<int:index>/",
        archive.message_attachment_view,
        name="message_attachment",
    ),
    path("messages/<int:pk>/annuler/", archive.message_cancel_view, name="message_cancel"),
    path("messages/<int:pk>/renvoyer/", archive.message_retry_view, name="message_retry"),
    path("messages/<int:pk>/renvoyer-copie/", archive.message_resend_view, name="message_resend"),
    path("boite-de-sortie/", archive.outbox, name="outbox"),
    path("non-remis/", archive.undelivered, name="undelivered"),
    path("societes/<int:pk>/envoi/", profiles.company_profile, name="company_profile"),
    path("societes/<int:pk>/peppol/", peppol.company_peppol, name="company_peppol"),
    path(
        "societes/<int:pk>/peppol/tester/", peppol.company_peppol_test, name="company_peppol_test"
    ),
    path("modeles/", templates.templates, name="templates"),
    path("modeles/nouveau/", templates.template_create, name="template_create"),
    path("modeles/champs/", templates.template_fields, name="template_fields"),
    path("modeles/<int:pk>/", templates.template_edit, name="template_edit"),
    path("oauth/", include("courrier.mailing.oauth.urls")),
    path("webhooks/", include("courrier.mailing.webhooks.urls")),
    path("textes/", include("courrier.mailing.phrase_urls")),
]
