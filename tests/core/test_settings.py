"""Settings: environment, TOML file, and one clear line for each mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from amanat.core.errors import ConfigurationError
from amanat.core.settings import load_settings


def test_defaults_are_the_embedded_setup(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.port == 8443
    assert settings.host == "127.0.0.1"
    assert settings.max_body_bytes == 1024 * 1024
    assert settings.resolved_database_url.startswith("sqlite+aiosqlite:///")
    assert settings.resolved_database_url.endswith("amanat-data/amanat.db")


def test_environment_overrides_toml_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "amanat.toml").write_text('port = 9000\nhost = "0.0.0.0"\n')
    monkeypatch.setenv("AMANAT_PORT", "9100")
    settings = load_settings()
    assert settings.port == 9100
    assert settings.host == "0.0.0.0"  # noqa: S104


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("AMANAT_PORT", "eighty", "AMANAT_PORT"),
        ("AMANAT_PORT", "70000", "AMANAT_PORT"),
        ("AMANAT_DATABASE_URL", "mysql://x", "AMANAT_DATABASE_URL"),
        ("AMANAT_TRUSTED_PROXIES", "10.0.0.0/8,not-an-ip", "AMANAT_TRUSTED_PROXIES"),
        ("AMANAT_ENVIRONMENT", "staging", "AMANAT_ENVIRONMENT"),
        ("AMANAT_MAX_BODY_BYTES", "1", "AMANAT_MAX_BODY_BYTES"),
    ],
)
def test_invalid_setting_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str, value: str, named: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    message = caught.value.message
    assert named in message
    assert "\n" not in message
    assert value not in message or value in ("1",)


def test_unknown_key_in_toml_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "amanat.toml").write_text("prot = 9000\n")
    with pytest.raises(ConfigurationError, match="AMANAT_PROT"):
        load_settings()


def test_broken_toml_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "amanat.toml").write_text("port = = 9000\n")
    with pytest.raises(ConfigurationError, match="configuration file"):
        load_settings()


def test_named_config_file_must_exist(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AMANAT_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigurationError, match="AMANAT_CONFIG"):
        load_settings()


def test_behind_proxy_needs_trusted_proxies(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AMANAT_BEHIND_PROXY", "true")
    with pytest.raises(ConfigurationError, match="trusted_proxies"):
        load_settings()


@pytest.mark.asvs("V13.3.1")
def test_master_key_never_appears_in_settings_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMANAT_MASTER_KEY", "1:" + "A" * 43)
    settings = load_settings()
    assert "AAAAAAAA" not in repr(settings)
