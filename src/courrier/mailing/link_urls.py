"""The public pages of secure links (no login): `/l/<token>/`."""

from django.urls import path

from courrier.mailing.views import links

app_name = "links"

urlpatterns = [
    path("<str:token>/", links.link_page, name="open"),
]
