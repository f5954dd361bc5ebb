"""OAuth2 connection URLs, included in the "mailing" namespace under /courrier/oauth/.

The callback addresses are fixed per provider: they are registered with Google and Microsoft.
"""

from django.urls import path

from courrier.mailing.oauth import views

urlpatterns = [
    path("<int:pk>/connecter/", views.oauth_connect, name="oauth_connect"),
    path("<int:pk>/deconnecter/", views.oauth_disconnect, name="oauth_disconnect"),
    path(
        "google/callback/",
        views.oauth_callback,
        {"provider": "google"},
        name="oauth_callback_google",
    ),
    path(
        "microsoft/callback/",
        views.oauth_callback,
        {"provider": "microsoft"},
        name="oauth_callback_microsoft",
    ),
]
