"""Standard phrases: their pages, and what the compose window asks for ("Texte")."""

from django.urls import path

from courrier.mailing.views import phrases

urlpatterns = [
    path("", phrases.phrase_list, name="phrases"),
    path("nouvelle/", phrases.phrase_create, name="phrase_create"),
    path("<int:pk>/", phrases.phrase_edit, name="phrase_edit"),
    path("<int:pk>/supprimer/", phrases.phrase_delete_view, name="phrase_delete"),
    path("texte/", phrases.phrase_text, name="phrase_text"),
    path("choix/", phrases.phrase_picker, name="phrase_picker"),
]
