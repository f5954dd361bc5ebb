from django.urls import path

from courrier.clients import views

app_name = "clients"
urlpatterns = [
    path("", views.client_list, name="list"),
    path("nouveau/", views.client_create, name="create"),
    path("<int:pk>/", views.client_detail, name="detail"),
    path("<int:pk>/modifier/", views.client_edit, name="edit"),
    path("<int:pk>/mails/", views.client_mails, name="mails"),
    path("<int:pk>/peppol/", views.client_peppol_lookup, name="peppol_lookup"),
    path("etiquettes/", views.tags, name="tags"),
    path("etiquettes/<int:pk>/", views.tag_edit, name="tag_edit"),
    path("etiquettes/<int:pk>/supprimer/", views.tag_delete, name="tag_delete"),
    path("selection/", views.selection, name="selection"),
    path("selection/enregistrer/", views.selection_save_view, name="selection_save"),
    path("selections/", views.selections, name="selections"),
    path("selections/<int:pk>/supprimer/", views.selection_delete_view, name="selection_delete"),
    path("selections/<int:pk>/partager/", views.selection_share_view, name="selection_share"),
]
