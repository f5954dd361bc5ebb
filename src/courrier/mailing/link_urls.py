"""The public pages of secure links (no login): `/l/<token>/`."""

from django.urls import path

from courrier.mailing import link_views

app_name = "links"

urlpatterns = [
    path("<str:token>/", link_views.link_page, name="open"),
]
