from django.urls import path

app_name = "firm"
urlpatterns: list = []
