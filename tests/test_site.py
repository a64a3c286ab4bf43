"""What every page of the site shares."""

import pytest
from django.test import Client

pytestmark = [pytest.mark.django_db]


def test_the_favicon_is_served_to_anyone_and_every_page_names_it():
    client = Client()
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon["Content-Type"] == "image/x-icon"
    assert b"".join(icon.streaming_content)[:4] == b"\x00\x00\x01\x00"  # an ICO file
    assert "max-age=86400" in icon["Cache-Control"]
    page = client.get("/accounts/login/").content.decode()
    assert 'rel="icon"' in page and "favicon.ico" in page
