from django.urls import path

from courrier.firm.production import views

app_name = "production"
urlpatterns = [path("", views.health, name="health")]
