"""Accounts and pages over HTTP."""

import pytest
from django.urls import reverse

from capture import services
from tests.conftest import PASSWORD, solid_jpeg

pytestmark = [pytest.mark.django_db, pytest.mark.db]


def test_the_shooting_page_requires_login(client):
    response = client.get(reverse("capture:shoot"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_the_home_page_leads_to_the_shooting_page(client, alice):
    client.force_login(alice)
    response = client.get("/", follow=True)
    assert response.redirect_chain[-1][0] == reverse("capture:shoot")
    assert b'id="shutter"' in response.content
    assert b'data-element="expression.smile"' in response.content
    assert b'data-element="clothing.clothing_saturation"' in response.content


def test_a_visitor_can_sign_up_and_lands_on_the_shooting_page(client, django_user_model):
    response = client.post(
        reverse("signup"), {"username": "carol", "password1": "a-long-pass-9876", "password2": "a-long-pass-9876"}
    )
    assert response.status_code == 302 and response["Location"] == reverse("capture:shoot")
    assert django_user_model.objects.filter(username="carol").exists()
    assert client.get(reverse("capture:shoot")).status_code == 200


@pytest.mark.parametrize("name", ["\u0430lice", "Alice", "ALICE"])  # a Cyrillic "a"; case only
def test_sign_up_refuses_a_name_that_looks_like_another_users(client, alice, django_user_model, name):
    response = client.post(
        reverse("signup"), {"username": name, "password1": "a-long-pass-9876", "password2": "a-long-pass-9876"}
    )
    assert response.status_code == 200 and b"form-error" in response.content
    assert django_user_model.objects.count() == 1


def test_sign_up_refuses_mismatched_passwords(client, django_user_model):
    response = client.post(
        reverse("signup"), {"username": "dave", "password1": "a-long-pass-9876", "password2": "other-pass-1234"}
    )
    assert response.status_code == 200
    assert b"form-error" in response.content
    assert not django_user_model.objects.filter(username="dave").exists()


def test_log_in_and_log_out(client, alice):
    response = client.post(reverse("login"), {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get(reverse("capture:shoot")).status_code == 200
    assert client.get(reverse("logout")).status_code == 405  # logging out is a POST
    client.post(reverse("logout"))
    assert client.get(reverse("capture:shoot")).status_code == 302


def test_a_wrong_password_is_refused(client, alice):
    response = client.post(reverse("login"), {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert b"form-error" in response.content


def _log_in(client, username, password, address="10.0.0.7"):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address)


def test_password_guessing_is_slowed_down_per_account_and_the_wait_grows(client, alice, monkeypatch):
    from accounts import throttle

    now = [1_000_000.0]
    monkeypatch.setattr(throttle.time, "time", lambda: now[0])
    for k in range(throttle.FREE):
        assert _log_in(client, "alice", f"guess {k}", address=f"10.0.1.{k}").status_code == 200
    # Even the right password is refused while the wait runs, from any address: it is not even checked.
    refused = _log_in(client, "alice", PASSWORD, address="10.0.2.1")
    assert refused.status_code == 429 and b"try again in 30 seconds" in refused.content
    assert client.get(reverse("capture:shoot")).status_code == 302
    now[0] += 31
    assert _log_in(client, "alice", "one more guess").status_code == 200
    assert b"try again in 60 seconds" in _log_in(client, "alice", PASSWORD).content  # the wait doubled
    now[0] += 61
    assert _log_in(client, "alice", PASSWORD).status_code == 302  # the right password, once the wait is over
    client.post(reverse("logout"))
    assert _log_in(client, "alice", "a slip").status_code == 200  # a success cleared the count


def test_one_address_guessing_many_accounts_is_slowed_down_but_others_are_not(client, alice, bob):
    from accounts import throttle

    for k in range(throttle.FREE):
        _log_in(client, f"someone{k}", "guess", address="10.9.9.9")
    assert _log_in(client, "bob", PASSWORD, address="10.9.9.9").status_code == 429
    assert _log_in(client, "bob", PASSWORD, address="10.1.1.1").status_code == 302


def test_a_shot_is_served_to_its_owner_and_is_404_for_anyone_else(client, alice, bob):
    jpeg = solid_jpeg()
    shot = services.save_shot(alice, jpeg, {"width": 320, "height": 240, "elements": {}, "faces": []})
    url = reverse("capture:shot-original", args=[shot.id])
    assert client.get(url).status_code == 302  # anonymous: to the login page
    client.force_login(bob)
    assert client.get(url).status_code == 404
    client.force_login(alice)
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert b"".join(response.streaming_content) == jpeg


def test_a_shot_whose_files_are_gone_answers_404_never_500(client, alice):
    shot = services.save_shot(alice, solid_jpeg(), {"width": 320, "height": 240, "elements": {}, "faces": []})
    shot.original.storage.delete(shot.original.name)
    client.force_login(alice)
    for name in ("capture:shot-original", "capture:shot-recorded"):
        assert client.get(reverse(name, args=[shot.id])).status_code == 404
    for what in ("both", "original"):
        assert client.get(reverse("capture:shot-download", args=[shot.id]), {"what": what}).status_code == 404


async def _get_through_the_asgi_app(path: str) -> int:
    from asgiref.testing import ApplicationCommunicator

    from fluxsite.asgi import application

    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"localhost")],
        "http_version": "1.1",
        "scheme": "http",
        "server": ("localhost", 80),
        "client": ("127.0.0.1", 5000),
    }
    comm = ApplicationCommunicator(application, scope)
    await comm.send_input({"type": "http.request", "body": b"", "more_body": False})
    start = await comm.receive_output(10)
    await comm.wait(10)
    return start["status"]


async def test_a_static_path_that_climbs_out_of_the_static_folder_is_not_found():
    assert await _get_through_the_asgi_app("/static/../var/secret_key") == 404
    assert await _get_through_the_asgi_app("/static/../../etc/passwd") == 404
    assert await _get_through_the_asgi_app("/static/capture/shoot.js") == 200
