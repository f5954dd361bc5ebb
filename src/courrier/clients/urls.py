from django.urls import path

from courrier.clients import views

app_name = "clients"
urlpatterns = [
    path("", views.client_list, name="list"),
    path("nouveau/", views.client_create, name="create"),
    path("<int:pk>/", views.client_detail, name="detail"),
    path("<int:pk>/modifier/", views.client_edit, name="edit"),
    path("<int:pk>/mails/", views.client_mails, name="mails"),
]
