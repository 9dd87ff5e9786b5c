"""The Outlook sign-in fits the OS keyring everywhere, and a keyring that refuses it says so clearly.

``CredentialLocker`` plays Windows Credential Manager as keyring's Windows backend meets it: an entry
longer than 1,280 characters (2,560 bytes of UTF-16) is refused with pywin32's own error type, not a
keyring error (jaraco/keyring#355, #540). msal's cache with its three tokens is several KB.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import msal
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail
from keyring.errors import PasswordDeleteError

from calferry import errors
from calferry.personal import graph, token_cache

TENANT, CLIENT_ID = "contoso.onmicrosoft.com", "11111111-2222-3333-4444-555555555555"
CACHE_NAME = f"graph-token-cache:{TENANT}:{CLIENT_ID}"
CRED_BLOB_CHARACTERS = 1280


class PyWinTypesError(Exception):
    """Shaped as ``pywintypes.error``: (winerror, funcname, strerror); not a KeyringError."""


class CredentialLocker(KeyringBackend):
    """Windows Credential Manager's size limit, entries kept in memory."""

    priority = 5  # type: ignore[assignment]
    viable = False  # only where a test sets it: keyring's own discovery must not chain it in

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[str, str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get(username)

    def set_password(self, service: str, username: str, password: str) -> None:
        if len(password) > CRED_BLOB_CHARACTERS:
            raise PyWinTypesError(1783, "CredWrite", "The stub received bad data.")
        self.entries[username] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.entries.pop(username, None) is None:
            raise PasswordDeleteError(username)


@pytest.fixture
def locker() -> Iterator[CredentialLocker]:
    previous = keyring.get_keyring()
    backend = CredentialLocker()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


def _account() -> graph.GraphAccount:
    return graph.GraphAccount(TENANT, CLIENT_ID)


def _long_cache() -> msal.SerializableTokenCache:
    """A cache as Entra fills it: access, refresh and id token of realistic length."""
    cache = msal.SerializableTokenCache()
    claims = {"oid": "aaaa-oid", "tid": "tttt-tid", "preferred_username": "tech@contoso.com"}
    cache.add(
        {
            "client_id": CLIENT_ID,
            "scope": ["Calendars.ReadWrite"],
            "token_endpoint": f"https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token",
            "response": {
                "access_token": "eyJ0eXAiOiJKV1QiLCJub25jZSI6" + "A" * 2400,
                "refresh_token": "0.AQ8A" + "R" * 1500,
                "expires_in": 3600,
                "token_type": "Bearer",
                "client_info": _b64({"uid": "aaaa-oid", "utid": "tttt-tid"}),
                "id_token": f"{_b64({'alg': 'none'})}.{_b64(claims)}.",
            },
        }
    )
    return cache


def _b64(data: dict[str, Any]) -> str:
    import base64

    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


class _Entra:
    """msal's device-code part, handing out the long cache."""

    def __init__(self) -> None:
        self.token_cache = _long_cache()

    def initiate_device_flow(self, scopes: list[str]) -> dict[str, Any]:
        return {"user_code": "ABC123", "message": "enter ABC123", "device_code": "dc"}

    def acquire_token_by_device_flow(self, flow: dict[str, Any]) -> dict[str, Any]:
        return {"access_token": "t", "id_token_claims": {"preferred_username": "tech@contoso.com"}}


def test_a_sign_in_longer_than_a_windows_credential_is_kept_in_parts_and_read_back(
    locker: CredentialLocker,
) -> None:
    entra = _Entra()
    assert len(entra.token_cache.serialize()) > 3 * CRED_BLOB_CHARACTERS
    assert graph.sign_in(_account(), lambda _: None, app=entra) == "tech@contoso.com"
    assert all(len(v) <= CRED_BLOB_CHARACTERS for v in locker.entries.values())
    assert token_cache.load(CACHE_NAME) == entra.token_cache.serialize()

    seen: list[str] = []

    def make_app(cache: msal.SerializableTokenCache) -> Any:
        seen.append(cache.serialize())
        raise RuntimeError("stop here")  # the cache handed to msal is all that matters

    with pytest.raises(RuntimeError):
        graph.MsalTokens(TENANT, CLIENT_ID, make_app=make_app)()
    assert json.loads(seen[0]) == json.loads(entra.token_cache.serialize())


def test_signing_out_removes_every_part(locker: CredentialLocker) -> None:
    graph.sign_in(_account(), lambda _: None, app=_Entra())
    assert graph.sign_out(_account()) is True
    assert locker.entries == {}


def test_a_shorter_cache_leaves_no_stale_parts_and_an_interrupted_save_keeps_the_last_sign_in(
    locker: CredentialLocker, monkeypatch: pytest.MonkeyPatch
) -> None:
    token_cache.save(CACHE_NAME, "a" * 3500)
    token_cache.save(CACHE_NAME, "b" * 2500)
    assert set(locker.entries) == {CACHE_NAME} | {n for n in locker.entries if n.startswith(CACHE_NAME + ":")}
    assert len(locker.entries) == 1 + 3 and token_cache.load(CACHE_NAME) == "b" * 2500
    writes = 0
    real = locker.set_password

    def crash_on_the_header(service: str, username: str, password: str) -> None:
        nonlocal writes
        writes += 1
        if username == CACHE_NAME:
            raise KeyboardInterrupt  # the process dies before the header is written
        real(service, username, password)

    monkeypatch.setattr(locker, "set_password", crash_on_the_header)
    with pytest.raises(KeyboardInterrupt):
        token_cache.save(CACHE_NAME, "c" * 2100)
    assert writes == 4 and token_cache.load(CACHE_NAME) == "b" * 2500


def test_a_sign_in_kept_as_one_entry_before_parts_existed_is_still_read(locker: CredentialLocker) -> None:
    locker.entries[CACHE_NAME] = '{"AccessToken": {}}'
    assert token_cache.load(CACHE_NAME) == '{"AccessToken": {}}'


def test_any_keyring_failure_is_a_clear_error_not_a_traceback(locker: CredentialLocker) -> None:
    def refuse(service: str, username: str, password: str) -> None:
        raise PyWinTypesError(1312, "CredWrite", "A specified logon session does not exist.")

    locker.set_password = refuse  # type: ignore[method-assign]
    with pytest.raises(errors.CredentialsMissing) as caught:
        graph.sign_in(_account(), lambda _: None, app=_Entra())
    assert "could not keep the Outlook sign-in" in caught.value.message
    assert "A specified logon session does not exist." in caught.value.message


def test_a_missing_part_asks_to_sign_in_again(locker: CredentialLocker) -> None:
    token_cache.save(CACHE_NAME, "x" * 2500)
    del locker.entries[next(n for n in locker.entries if n.endswith(":1"))]
    with pytest.raises(errors.CredentialsMissing, match="part of the Outlook sign-in is missing"):
        graph.MsalTokens(TENANT, CLIENT_ID)()


def test_without_any_keyring_the_sign_in_is_refused_clearly_and_written_nowhere(tmp_path: Path) -> None:
    """A Linux machine without Secret Service: no plaintext file is made in its stead (the test's
    CALFERRY_HOME and XDG data home are under ``tmp_path``)."""
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        with pytest.raises(errors.CredentialsMissing) as caught:
            graph.sign_in(_account(), lambda _: None, app=_Entra())
    finally:
        keyring.set_keyring(previous)
    assert caught.value.hint and "keyring" in str(caught.value).lower()
    written = [p for p in tmp_path.rglob("*") if p.is_file() and "0.AQ8A" in p.read_text(errors="ignore")]
    assert written == []
