from django.contrib import admin

from courrier.documents.models import Document


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = ("title", "client", "kind", "date", "sensitive", "size", "uploaded_by")
    list_filter = ("kind", "sensitive")
    search_fields = ("title", "filename", "client__name", "client__number")
    raw_id_fields = ("client", "uploaded_by")
    readonly_fields = ("size", "sha256", "content_type", "uploaded_at")
