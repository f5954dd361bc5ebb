from django.urls import path

from courrier.documents import views

app_name = "documents"

urlpatterns = [
    path("client/<int:client_pk>/", views.client_documents, name="client"),
    path("<int:pk>/fichier/", views.document_download, name="download"),
    path("<int:pk>/supprimer/", views.document_remove, name="delete"),
    path("liens/<int:pk>/revoquer/", views.link_revoke, name="link_revoke"),
]
