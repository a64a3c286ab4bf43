from django.urls import path

from .consumers import ShootConsumer

websocket_urlpatterns = [path("ws/shoot/", ShootConsumer.as_asgi())]
