"""The settings page: preview mode and divergence, model order and the intention table, per user."""

import pytest
from django.urls import reverse

from reconstruction import plans, services
from reconstruction.core.intention import DEFAULT_TABLE
from reconstruction.models import IntentionTable, ShootingPreferences
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.django_db, pytest.mark.db]


@pytest.fixture
def client_of(client):
    def log_in(user):
        client.login(username=user.username, password=PASSWORD)
        return client

    return log_in


def preferences_post(**overrides):
    data = {
        "form": "preferences",
        "preview_mode": "3",
        "soften": "weaker",
        "sequence_unit": "region",
        "sequence_order": "far_near",
        "placeholder": "colour",
        "placeholder_colour": "#203040",
        "divergence_method": "pixels",
        "divergence_scale": "0.5",
        "pixel_fraction": "0.2",
        "model_order": "composition, expression",
    }
    return data | overrides


def test_the_settings_page_shows_the_defaults(alice, client_of):
    page = client_of(alice).get(reverse("reconstruction:settings"))
    assert page.status_code == 200
    body = page.content.decode()
    assert "Intention table" in body and 'value="1.0"' in body and "Mode 3" in body


def test_saving_preferences_changes_how_the_next_shot_is_previewed(alice, client_of):
    response = client_of(alice).post(reverse("reconstruction:settings"), preferences_post())
    assert response.status_code == 302
    preview, div, order = plans.settings_for(alice)
    assert (preview.mode, preview.soften, preview.unit, preview.order) == (3, "weaker", "region", "far_near")
    assert (preview.placeholder, preview.placeholder_colour) == ("colour", "#203040")
    assert (div.method, div.scale, div.pixel_fraction) == ("pixels", 0.5, 0.2)
    assert order == ["composition", "expression"]


@pytest.mark.parametrize(
    "field, value",
    [
        ("model_order", "composition, astrology"),
        ("divergence_scale", "9"),
        ("preview_mode", "7"),
        ("placeholder_colour", "red"),
    ],
)
def test_bad_preferences_are_refused_with_a_message_and_nothing_saved(alice, client_of, field, value):
    response = client_of(alice).post(reverse("reconstruction:settings"), preferences_post(**{field: value}))
    assert response.status_code == 200 and "form-error" in response.content.decode()
    assert not ShootingPreferences.objects.filter(user=alice).exists()


def test_editing_the_intention_table_keeps_only_the_changed_rows_per_user(alice, bob, client_of):
    from reconstruction.forms import IntentionTableForm, table_field

    data = {"form": "intentions"}
    for intention, ideals in DEFAULT_TABLE.items():
        for name, value in ideals.items():
            data[table_field(intention, name)] = str(value)
    data[table_field("fun", "expression.smile")] = "0.6"
    data[table_field("fun", "climate.sunniness")] = "0.8"
    assert IntentionTableForm(DEFAULT_TABLE, data).is_valid()
    assert client_of(alice).post(reverse("reconstruction:settings"), data).status_code == 302
    table = services.intention_table_for(alice)
    assert table["fun"]["expression.smile"] == 0.6 and table["fun"]["climate.sunniness"] == 0.8
    assert list(IntentionTable.objects.filter(user=alice).values_list("intention", flat=True)) == ["fun"]
    assert services.intention_table_for(bob) == DEFAULT_TABLE  # bob's table is his own
    client_of(alice).post(reverse("reconstruction:settings"), {"form": "reset"})
    assert services.intention_table_for(alice) == DEFAULT_TABLE


def test_an_out_of_range_ideal_degree_is_refused(alice, client_of):
    from reconstruction.forms import table_field

    response = client_of(alice).post(
        reverse("reconstruction:settings"), {"form": "intentions", table_field("fun", "expression.smile"): "1.5"}
    )
    assert response.status_code == 200 and "between 0 and 1" in response.content.decode()
    assert not IntentionTable.objects.filter(user=alice).exists()


def test_the_settings_page_needs_a_login(client):
    response = client.get(reverse("reconstruction:settings"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_group_photo_is_a_row_of_the_intention_table_like_the_others(alice, client_of):
    from reconstruction.forms import table_field

    body = client_of(alice).get(reverse("reconstruction:settings")).content.decode()
    assert '<th data-intention="group">Group photo</th>' in body
    assert f'name="{table_field("group", "posture.face_yaw")}"' in body
    data = {"form": "intentions"}
    for intention, ideals in DEFAULT_TABLE.items():
        for name, value in ideals.items():
            data[table_field(intention, name)] = str(value)
    data[table_field("group", "expression.smile")] = "0.3"  # a calm group, everyone facing the camera
    assert client_of(alice).post(reverse("reconstruction:settings"), data).status_code == 302
    table = services.intention_table_for(alice)
    assert table["group"]["expression.smile"] == 0.3 and table["group"]["posture.face_yaw"] == 0.5
