from django.urls import path

from courrier.billing import views

app_name = "billing"

urlpatterns = [
    path("", views.home, name="home"),
    path("<int:pk>/", views.invoice_detail, name="invoice"),
    path("<int:pk>/modifier/", views.invoice_edit, name="invoice_edit"),
    path("<int:pk>/emettre/", views.invoice_issue, name="invoice_issue"),
    path("<int:pk>/supprimer/", views.invoice_delete, name="invoice_delete"),
    path("<int:pk>/pdf/", views.invoice_pdf, name="invoice_pdf"),
    path("<int:pk>/ubl/", views.invoice_ubl, name="invoice_ubl"),
    path("<int:pk>/renvoyer/", views.invoice_resend, name="invoice_resend"),
    path("<int:pk>/note-de-credit/", views.credit_note_create, name="credit_note_create"),
    path("client/<int:client_pk>/", views.client_invoices, name="client_invoices"),
    path("<slug:code>/", views.invoice_list, name="invoices"),
    path("<slug:code>/nouvelle/", views.invoice_create, name="invoice_create"),
    path("<slug:code>/lignes/", views.invoice_lines, name="invoice_lines"),
    path("<slug:code>/registre-peppol/", views.peppol_register, name="peppol_register"),
    path("<slug:code>/registre-email/", views.email_register, name="email_register"),
    path("<slug:code>/registre-email/verifier/", views.email_presend, name="email_presend"),
    path("<slug:code>/registre-email/envoyer/", views.email_send, name="email_send"),
    path("<slug:code>/envois/<int:pk>/", views.batch_detail, name="batch"),
    path("<slug:code>/registre-papier/", views.paper_register, name="paper_register"),
    path("<slug:code>/registre-papier/pdf/", views.paper_pdf, name="paper_pdf"),
]
