"""Account rows are written here."""

from django.contrib.auth import get_user_model


def create_user(username: str, password: str):
    return get_user_model().objects.create_user(username=username, password=password)
