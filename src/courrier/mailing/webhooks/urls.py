from django.urls import path

from courrier.mailing.webhooks import views
from courrier.params import body_within_limit

urlpatterns = [
    # A body too large is answered 413 before the view: the view's readers never see it.
    path("<str:token>/", body_within_limit(views.receive), name="webhook"),
]
