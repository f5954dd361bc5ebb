
app_name = "firm"
urlpatterns: list = []
