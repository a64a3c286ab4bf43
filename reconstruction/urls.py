from django.urls import path

from . import views

app_name = "reconstruction"
urlpatterns = [
    path("models/", views.model_list, name="models"),
    path("models/runs.json", views.runs, name="runs"),
    path("models/train/<str:group>/", views.train, name="train"),
    path("models/<int:pk>/activate/", views.activate, name="activate"),
    path("models/<int:pk>/delete/", views.delete, name="delete"),
    path("settings/", views.preferences, name="settings"),
]
