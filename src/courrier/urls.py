from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from django.views.i18n import set_language

from courrier.firm import views as firm_views
from courrier.firm.forms import LoginForm

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="clients:list", permanent=False)),
    # Browsers and feed readers ask for /favicon.ico whatever the page links: the same icon.
    path(
        "favicon.ico",
        login_not_required(RedirectView.as_view(url=static("courrier/favicon.svg"))),
    ),
    path("connexion/", auth_views.LoginView.as_view(authentication_form=LoginForm), name="login"),
    path("deconnexion/", auth_views.LogoutView.as_view(), name="logout"),
    # The interface language of a reader who is not logged in (a cookie; once logged in, the
    # collaborator's own language wins).
    path("langue/", login_not_required(set_language), name="set_language"),
    path(
        "mot-de-passe/",
        auth_views.PasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "mot-de-passe/change/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path(
        "mot-de-passe/oublie/", firm_views.PasswordResetRequestView.as_view(), name="password_reset"
    ),
    path(
        "mot-de-passe/oublie/envoye/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "mot-de-passe/nouveau/<uidb64>/<token>/",
        firm_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "mot-de-passe/nouveau/fait/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("clients/", include("courrier.clients.urls")),
    path("courrier/", include("courrier.mailing.urls")),
    path("cabinet/", include("courrier.firm.urls")),
    path("factures/", include("courrier.billing.urls")),
    path("fiscal/", include("courrier.taxes.urls")),
    path("documents/", include("courrier.documents.urls")),
    path("l/", include("courrier.mailing.link_urls")),
    path("demo/", include("courrier.demo.urls")),
    path("donnees/", include("courrier.privacy.urls")),
    path("admin/", admin.site.urls),
    path("sante/", include("courrier.firm.production.urls")),
]

handler400 = "courrier.errors.bad_request"
handler403 = "courrier.errors.permission_denied"
handler404 = "courrier.errors.page_not_found"
handler500 = "courrier.errors.server_error"
