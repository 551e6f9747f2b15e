from pathlib import Path

from common import settings


def test_environment_overrides_are_typed(tmp_path: Path) -> None:
    file = tmp_path / "s.toml"
    file.write_text('[gateway]\nport = 8080\nhost = "127.0.0.1"\n', encoding="utf-8")
    data = settings.load(file, {"GOVBOT__GATEWAY__PORT": "9090", "GOVBOT__GATEWAY__HOST": "localhost",
                                "GOVBOT__NEW__FLAG": "true", "OTHER": "x"})
    assert data["gateway"] == {"port": 9090, "host": "localhost"}
    assert data["new"] == {"flag": True}


def test_data_dir_placeholder_and_sqlite_urls(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("GOVBOT__PATHS__DATA_DIR", str(tmp_path / "data"))
    settings.reload()
    try:
        assert settings.resolve_path("{data_dir}/secrets/x") == tmp_path / "data" / "secrets" / "x"
        url = settings.resolve_db_url("sqlite:///{data_dir}/a.sqlite3")
        assert url == f"sqlite:///{tmp_path}/data/a.sqlite3"
        assert settings.resolve_db_url("postgresql://127.0.0.1/test") == "postgresql://127.0.0.1/test"
    finally:
        settings.reload()


def test_secret_is_created_once_with_private_mode(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "token"
    first = settings.read_or_create_secret(str(path))
    assert settings.read_or_create_secret(str(path)) == first
    assert len(first) >= 24 and path.stat().st_mode & 0o777 == 0o600


def test_every_section_of_the_shipped_settings_parses() -> None:
    data = settings.load()
    for name in ("paths", "gateway", "rasa", "actions", "knowledge_base", "dispatch", "speech", "telephony"):
        assert name in data, name
