"""Start-up refuses a missing, insecure or different master key before touching data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from amanat.core.crypto import MasterKeyring, format_master_key_env
from amanat.core.db import Database
from amanat.core.errors import ConfigurationError
from amanat.core.keys import key_file_path, verify_master_keyring
from amanat.core.runtime import open_runtime
from amanat.core.settings import Settings

pytestmark = pytest.mark.asvs("V11.1.1", "V13.3.1")


async def test_right_key_ring_is_accepted(database: Database, test_keyring: MasterKeyring) -> None:
    async with database.sessionmaker() as session:
        await verify_master_keyring(session, test_keyring)


async def test_different_key_ring_is_refused(database: Database) -> None:
    async with database.sessionmaker() as session:
        with pytest.raises(ConfigurationError) as caught:
            await verify_master_keyring(session, MasterKeyring.generate())
    assert caught.value.code == "key_wrong"


async def test_ring_missing_a_used_version_is_refused(
    database: Database, test_keyring: MasterKeyring
) -> None:
    rotated = test_keyring.with_new_version()
    async with database.sessionmaker() as session:
        await verify_master_keyring(session, rotated)
        await session.flush()
        only_new = rotated.without_version(test_keyring.current_version)
        with pytest.raises(ConfigurationError) as caught:
            await verify_master_keyring(session, only_new)
    assert caught.value.code == "key_missing"


async def _first_start(settings: Settings) -> None:
    runtime = await open_runtime(settings)
    await runtime.database.dispose()


async def test_first_start_creates_a_private_key_file(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    await _first_start(settings)
    path = key_file_path(settings)
    assert path.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "data").stat().st_mode & 0o777 == 0o700
    await _first_start(settings)  # a second start reuses it


async def test_world_readable_key_file_is_refused(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    await _first_start(settings)
    os.chmod(key_file_path(settings), 0o644)
    with pytest.raises(ConfigurationError) as caught:
        await _first_start(settings)
    assert caught.value.code == "key_file_insecure"
    assert "chmod 600" in caught.value.message


async def test_missing_key_file_with_data_is_refused_not_recreated(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    await _first_start(settings)
    key_file_path(settings).unlink()
    with pytest.raises(ConfigurationError) as caught:
        await _first_start(settings)
    assert caught.value.code == "key_missing"
    assert not key_file_path(settings).exists()


async def test_wrong_key_from_environment_is_refused(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    await _first_start(settings)
    other = Settings(
        data_dir=tmp_path / "data", master_key=format_master_key_env(MasterKeyring.generate())
    )
    with pytest.raises(ConfigurationError) as caught:
        await _first_start(other)
    assert caught.value.code == "key_wrong"


async def test_data_directory_open_to_others_is_refused(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    await _first_start(settings)
    os.chmod(tmp_path / "data", 0o755)  # noqa: S103  (the mistake under test)
    with pytest.raises(ConfigurationError, match="chmod 700"):
        await _first_start(settings)
