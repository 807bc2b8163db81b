"""One Microsoft token client per app and audience, for the life of the process. botbuilder
builds a new MSAL client for every connector it creates (every proactive send and reply), and
each new client discovers its tenant and fetches a token over the network, synchronously, on
the event loop. Reused, MSAL serves the token from its cache until it nears expiry."""

from typing import Any

from botbuilder.integration.aiohttp import ConfigurationServiceClientCredentialFactory
from botframework.connector.auth import ServiceClientCredentialsFactory


class CachedCredentialFactory(ServiceClientCredentialsFactory):
    def __init__(self, configuration: Any) -> None:
        self._inner = ConfigurationServiceClientCredentialFactory(configuration)
        self._made: dict[tuple[str, str, str, bool], Any] = {}

    async def is_valid_app_id(self, app_id: str) -> bool:
        return bool(await self._inner.is_valid_app_id(app_id))

    async def is_authentication_disabled(self) -> bool:
        return bool(await self._inner.is_authentication_disabled())

    async def create_credentials(
        self, app_id: str, oauth_scope: str, login_endpoint: str, validate_authority: bool
    ) -> Any:
        key = (app_id, oauth_scope, login_endpoint, validate_authority)
        if key not in self._made:
            self._made[key] = await self._inner.create_credentials(
                app_id, oauth_scope, login_endpoint, validate_authority
            )
        return self._made[key]
