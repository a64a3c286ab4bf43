"""Content Credentials (C2PA) in every recorded photo: signed when the shot is recorded, read back
valid with every action and Flux's record, invalid after one changed byte, "original kept" where
nothing was changed, checked by a second implementation of the standard, and scoped to their
owner."""

import io
import json
import zipfile

import numpy as np
import pytest
from django.urls import reverse

from capture import services
from capture.models import Shot
from reconstruction import credentials
from reconstruction.core import credentials as c2pa_core
from tests.capture.test_gallery_and_feedback import client_for, make_shot
from tests.conftest import flipped, in_image_data

pytestmark = [pytest.mark.django_db, pytest.mark.db]


@pytest.fixture(autouse=True)
def own_authority(settings, tmp_path):
    """Each test's installation makes its own certificate authority on first use."""
    settings.FLUX_C2PA_DIR = tmp_path / "credentials"
    credentials.forget_authority()
    yield
    credentials.forget_authority()


@pytest.fixture
def frame():
    rng = np.random.default_rng(1)
    return np.clip(110 + rng.integers(0, 40, (120, 160, 3)), 0, 255).astype(np.uint8)


def read(field) -> bytes:
    with field.open("rb") as fh:
        return fh.read()


def test_a_recorded_reconstruction_carries_valid_credentials_with_each_edit_and_flux_s_record(alice, frame):
    shot = make_shot(alice, frame)
    found = credentials.check(read(shot.reconstruction))
    assert found.state == "valid", found.errors
    assert found.signer == "Flux" and not found.kept_original
    assert [a["action"] for a in found.actions] == ["c2pa.opened", "c2pa.edited"]
    edited = found.actions[1]
    assert edited["digitalSourceType"] == c2pa_core.TRAINED_ALGORITHMIC_MEDIA
    assert edited["softwareAgent"]["name"] == "Flux"
    assert edited["parameters"]["group"] == "lighting" and edited["parameters"]["version"] == 1
    assert set(edited["parameters"]["degrees"]) == {"lighting.exposure"}
    assert [i["relationship"] for i in found.ingredients] == ["parentOf"]
    record = found.record
    assert record["intention"]["name"] == "portrait" and record["targets"] == {"lighting.exposure": 0.55}
    assert record["degrees"]["before"]["lighting.exposure"] == 0.4
    assert record["models"] == {"lighting": 1} and record["preview"]["mode"] == 2
    assert [s["stage"] for s in record["preview"]["stages"]] == ["original", "placeholder", "preview", "reconstruction"]
    # Nothing of the user or the server: no name, no path.
    text = json.dumps(record)
    assert "alice" not in text and "/" not in text.replace("→", "")
    page = client_for(alice).get(reverse("capture:shot", args=[shot.id])).content.decode()
    assert 'data-state="valid"' in page and "Signed by Flux" in page
    assert "Opened the original photo" in page and "lighting model (version 1)" in page


def test_one_changed_byte_reads_invalid_and_the_pages_say_so(alice, frame):
    shot = make_shot(alice, frame)
    signed = read(shot.reconstruction)
    signed = flipped(signed, in_image_data(signed))
    with open(shot.reconstruction.path, "wb") as fh:
        fh.write(signed)
    found = credentials.check(signed)
    assert found.state == "invalid" and "assertion.dataHash.mismatch" in found.codes
    page = client_for(alice).get(reverse("capture:shot", args=[shot.id])).content.decode()
    assert 'data-state="invalid"' in page and "does not hold" in page
    gallery = client_for(alice).get(reverse("capture:gallery")).content.decode()
    assert "CR ✗" in gallery


def test_a_shot_whose_edits_were_all_left_out_says_the_original_was_kept(alice, frame):
    shot = make_shot(alice, frame, reconstructed=False)
    assert not shot.reconstruction and shot.kept
    found = credentials.check(read(shot.kept))
    assert found.state == "valid" and found.kept_original
    assert [a["action"] for a in found.actions] == ["c2pa.opened", c2pa_core.ORIGINAL_KEPT]
    assert found.record["kept_original"] is True
    # The photo downloaded is the original's pixels with the credentials saying so.
    response = client_for(alice).get(reverse("capture:shot-download", args=[shot.id]) + "?what=recorded")
    body = b"".join(response.streaming_content)
    assert body == read(shot.kept) and credentials.check(body).kept_original
    page = client_for(alice).get(reverse("capture:shot", args=[shot.id])).content.decode()
    assert "the original was kept" in page and "Nothing was changed: this is the original, kept." in page


def test_rejecting_the_reconstruction_signs_the_original_as_kept(alice, frame):
    shot = make_shot(alice, frame)
    services.give_feedback(alice, shot.id, "rejected")
    shot.refresh_from_db()
    assert shot.recorded_kind == "original" and shot.recorded == shot.kept
    found = credentials.check(read(shot.kept))
    assert found.state == "valid" and found.kept_original and found.record["verdict"] == "rejected"
    # The reconstruction keeps its own credentials.
    assert credentials.check(read(shot.reconstruction)).state == "valid"


def test_the_reconstruction_download_and_the_zip_keep_the_credentials(alice, frame):
    shot = make_shot(alice, frame)
    response = client_for(alice).get(reverse("capture:shot-download", args=[shot.id]) + "?what=reconstruction")
    assert credentials.check(b"".join(response.streaming_content)).state == "valid"
    archive = zipfile.ZipFile(
        io.BytesIO(client_for(alice).get(reverse("capture:shot-download", args=[shot.id]) + "?what=both").content)
    )
    names = archive.namelist()
    assert not any(n.endswith("provenance.json") for n in names)
    manifest = json.loads(archive.read(next(n for n in names if n.endswith("-manifest.json"))))
    assert manifest["state"] == "valid" and manifest["record"]["targets"] == {"lighting.exposure": 0.55}
    assert manifest["manifest"]["active_manifest"]
    inside = archive.read(next(n for n in names if n.endswith("-reconstruction.jpg")))
    assert credentials.check(inside).state == "valid"


def test_another_users_manifest_is_never_served(alice, bob, frame):
    shot = make_shot(alice, frame)
    url = reverse("capture:shot-credentials", args=[shot.id])
    assert client_for(bob).get(url).status_code == 404
    mine = client_for(alice).get(url)
    assert mine.status_code == 200 and mine.json()["state"] == "valid"


def test_a_photo_recorded_by_a_broken_authority_is_kept_unsigned_and_says_why(alice, frame, settings, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "root.pem").write_text("not a certificate")  # the other files are missing
    settings.FLUX_C2PA_DIR = broken
    credentials.forget_authority()
    shot = make_shot(alice, frame)
    assert shot.status == Shot.DONE and shot.reconstruction
    assert credentials.c2pa_core.read(read(shot.reconstruction), None).state == "none"
    assert "recorded without Content Credentials" in shot.message and "incomplete" in shot.message


def test_an_independent_implementation_validates_a_recorded_photo(alice, frame, c2pa_ts, tmp_path):
    shot = make_shot(alice, frame)
    path = tmp_path / "recorded.jpg"
    path.write_bytes(read(shot.reconstruction))
    seen = c2pa_ts(path)
    assert seen["manifest_found"] and seen["valid"], seen["failures"]
    assert [a["action"] for a in seen["actions"]] == ["c2pa.opened", "c2pa.edited"]
    assert seen["other_assertions"]["org.flux.reconstruction"]["targets"] == {"lighting.exposure": 0.55}
