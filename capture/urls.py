from django.urls import path

from . import views

app_name = "capture"
urlpatterns = [
    path("shoot/", views.shoot, name="shoot"),
    path("shots/<uuid:shot_id>/original.jpg", views.shot_original, name="shot-original"),
    path("shots/<uuid:shot_id>/recorded.jpg", views.shot_recorded, name="shot-recorded"),
]
