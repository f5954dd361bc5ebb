"""Follow-up of VAT returns, ISOC, IPP and BNB filings, and their lists."""

from django.urls import path

from courrier.taxes import views

app_name = "taxes"

urlpatterns = [
    path("", views.filing_index, name="index"),
    path("<slug:slug>/", views.filing_list, name="list"),
    path("<slug:slug>/envoyer/", views.filing_mail, name="mail"),
    path("<slug:slug>/nouveau/", views.filing_edit, name="create"),
    path("<slug:slug>/<int:pk>/", views.filing_edit, name="edit"),
]
