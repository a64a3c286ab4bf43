from django.urls import path

from . import views

app_name = "capture"
urlpatterns = [
    path("shoot/", views.shoot, name="shoot"),
    path("gallery/", views.gallery, name="gallery"),
    path("history/", views.history, name="history"),
    path("shots/<uuid:shot_id>/", views.shot_page, name="shot"),
    path("shots/<uuid:shot_id>/original.jpg", views.shot_original, name="shot-original"),
    path("shots/<uuid:shot_id>/recorded.jpg", views.shot_recorded, name="shot-recorded"),
    path("shots/<uuid:shot_id>/reconstruction.jpg", views.shot_reconstruction, name="shot-reconstruction"),
    path("shots/<uuid:shot_id>/thumb.jpg", views.shot_thumbnail, name="shot-thumb"),
    path("shots/<uuid:shot_id>/stages/<int:index>.jpg", views.shot_stage, name="shot-stage"),
    path("shots/<uuid:shot_id>/download/", views.shot_download, name="shot-download"),
    path("shots/<uuid:shot_id>/credentials.json", views.shot_credentials, name="shot-credentials"),
    path("shots/<uuid:shot_id>/feedback/", views.shot_feedback, name="shot-feedback"),
    path("shots/<uuid:shot_id>/delete/", views.shot_delete, name="shot-delete"),
    path("shots/<uuid:shot_id>/develop/", views.shot_develop, name="shot-develop"),
    path("shots/<uuid:shot_id>/status/", views.shot_status, name="shot-status"),
    path("shots/<uuid:shot_id>/take/", views.shot_take, name="shot-take"),
    path("shots/<uuid:shot_id>/takes/<int:face>/<int:index>.jpg", views.shot_take_image, name="shot-take-image"),
]
