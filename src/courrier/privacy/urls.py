from django.urls import path

from courrier.privacy import views

app_name = "privacy"
urlpatterns = [
    path("clients/<int:pk>/export/", views.client_export, name="client_export"),
    path("clients/<int:pk>/effacer/", views.client_erase, name="client_erase"),
]
