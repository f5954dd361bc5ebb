
app_name = "mailing"
urlpatterns: list = []
