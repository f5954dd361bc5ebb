from django.urls import path

from courrier.demo import views

app_name = "demo"
urlpatterns = [
    path("", views.mailbox, name="mailbox"),
    # Before the mails' pattern: "peppol" is never the name of a caught mail.
    path("peppol/", views.peppol_received, name="peppol"),
    path("peppol/<str:document_id>/ubl/", views.peppol_ubl, name="peppol_ubl"),
    path("<str:name>/", views.mailbox_message, name="mailbox_message"),
    path("<str:name>/eml/", views.mailbox_eml, name="mailbox_eml"),
]
