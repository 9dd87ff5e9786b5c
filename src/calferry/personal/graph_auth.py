"""Signing in to Outlook: msal's device code flow, and silent refresh from the sign-in kept in the keyring.

The token cache is kept by :mod:`calferry.personal.token_cache` (in parts, for Windows Credential
Manager). Another sign-in host than Microsoft's (a test stand-in) is taken as given: msal's instance
discovery is off for it.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msal

from calferry.errors import ConfigError, CredentialsMissing, PersonalUnavailable
from calferry.personal import token_cache

SCOPES = ("Calendars.ReadWrite",)
DEFAULT_LOGIN_URL = "https://login.microsoftonline.com"


@dataclass(frozen=True)
class GraphAccount:
    """Which app registration signs in, in which tenant, at which sign-in host (empty: Microsoft's)."""

    tenant: str
    client_id: str
    login_url: str = ""


def _cache_name(tenant: str, client_id: str) -> str:
    return f"graph-token-cache:{tenant}:{client_id}"


def _authority(tenant: str, login_url: str = DEFAULT_LOGIN_URL) -> str:
    return f"{login_url.rstrip('/')}/{tenant or 'organizations'}"


def _public_app(
    tenant: str, client_id: str, cache: msal.SerializableTokenCache, login_url: str = DEFAULT_LOGIN_URL
) -> msal.PublicClientApplication:
    """msal discovers the tenant over the network here, so failures are translated.

    Another sign-in host than Microsoft's (a test stand-in) is taken as it is: msal's instance
    discovery, which asks Microsoft whether it knows the host, is off for it.
    """
    if not client_id:
        raise ConfigError(
            "personal.graph_client_id is not set",
            hint="ask your administrator for the app's client id (docs/outlook.md), then "
            "`calferry config set personal.graph_client_id <id>`",
        )
    try:
        return msal.PublicClientApplication(
            client_id,
            authority=_authority(tenant, login_url),
            token_cache=cache,
            instance_discovery=None if login_url.rstrip("/") == DEFAULT_LOGIN_URL else False,
        )
    except ValueError as exc:
        raise ConfigError(f"Microsoft Entra rejected tenant {tenant!r}: {exc}") from exc
    except Exception as exc:  # msal lets requests' errors through
        raise PersonalUnavailable(f"cannot reach Microsoft Entra: {type(exc).__name__}") from exc


class MsalTokens:
    """A token provider over msal's cache kept in the keyring; refreshes silently, never prompts."""

    def __init__(
        self,
        tenant: str,
        client_id: str,
        *,
        make_app: Callable[[msal.SerializableTokenCache], Any] | None = None,
        login_url: str = "",
    ) -> None:
        """``make_app`` builds the msal application over the cache read from the keyring (tests pass theirs)."""
        self._tenant, self._client_id = tenant, client_id
        self._make_app = make_app or functools.partial(
            _public_app, tenant, client_id, login_url=login_url or DEFAULT_LOGIN_URL
        )
        self._app: msal.PublicClientApplication | None = None
        self._cache = msal.SerializableTokenCache()
        self._lock = threading.Lock()

    def __call__(self) -> str:
        with self._lock:
            result = self._silent()
        if not result or "access_token" not in result:
            reason = (result or {}).get("error_description") or "no signed-in account"
            raise CredentialsMissing(
                f"not signed in to Outlook ({reason.splitlines()[0]})",
                hint="run `calferry login --outlook`; if it keeps failing, ask your administrator about consent",
            )
        return str(result["access_token"])

    def _silent(self) -> dict[str, Any] | None:
        name = _cache_name(self._tenant, self._client_id)
        if self._app is None:
            stored = token_cache.load(name)
            if not stored:
                return None
            self._cache.deserialize(stored)
            self._app = self._make_app(self._cache)
        accounts = self._app.get_accounts()
        if not accounts:
            return None
        try:
            # the variant with error: a refused refresh token says why (AADSTS...), not just "no token"
            result = self._app.acquire_token_silent_with_error(list(SCOPES), account=accounts[0])
        except Exception as exc:  # network errors from requests
            raise PersonalUnavailable(f"cannot reach Microsoft Entra: {type(exc).__name__}") from exc
        if self._cache.has_state_changed:
            token_cache.save(name, self._cache.serialize())
        return dict(result) if result else None


def sign_in(account: GraphAccount, show: Callable[[str], None], *, app: Any = None) -> str:
    """Device code sign-in (``calferry login --outlook``): shows msal's message, waits, keeps the cache.

    Returns the signed-in account's user name. ``app`` replaces the msal application in tests.
    """
    tenant, client_id = account.tenant, account.client_id
    cache = msal.SerializableTokenCache()
    login_url = account.login_url or DEFAULT_LOGIN_URL
    application = app or _public_app(tenant, client_id, cache, login_url)
    flow = application.initiate_device_flow(scopes=list(SCOPES))
    if "user_code" not in flow:
        raise CredentialsMissing(f"Outlook sign-in could not start: {flow.get('error_description', flow)}")
    show(flow["message"])
    result = application.acquire_token_by_device_flow(flow)
    if "access_token" not in result:
        raise CredentialsMissing(
            f"Outlook sign-in failed: {result.get('error_description') or result.get('error')}",
            hint="an administrator may have to grant consent for Calendars.ReadWrite (docs/outlook.md)",
        )
    store = getattr(application, "token_cache", None) or cache
    token_cache.save(_cache_name(tenant, client_id), store.serialize())
    claims = result.get("id_token_claims") or {}
    return str(claims.get("preferred_username") or claims.get("name") or "signed in")


def sign_out(account: GraphAccount) -> bool:
    """Forget the Outlook tokens (``calferry logout --outlook``); False if none were stored."""
    return token_cache.forget(_cache_name(account.tenant, account.client_id))
