from django.urls import path

from courrier.demo import views

app_name = "demo"
urlpatterns = [
    path("", views.mailbox, name="mailbox"),
    path("<str:name>/", views.mailbox_message, name="mailbox_message"),
    path("<str:name>/eml/", views.mailbox_eml, name="mailbox_eml"),
]
