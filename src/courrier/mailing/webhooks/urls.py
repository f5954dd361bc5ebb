from django.urls import path

from courrier.mailing.webhooks import views

urlpatterns = [
    path("<str:token>/", views.receive, name="webhook"),
]
