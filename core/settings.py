"""The one settings object: environment variables and `.env`."""

from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
AAD_GUID = r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$"


class MicrosoftAppType(StrEnum):
    MULTI_TENANT = "MultiTenant"
    SINGLE_TENANT = "SingleTenant"
    USER_ASSIGNED_MSI = "UserAssignedMSI"


class LogFormat(StrEnum):
    AUTO = "auto"  # JSON lines unless standard error is a terminal
    JSON = "json"
    TEXT = "text"


class LogSettings(BaseSettings):
    """The settings logging needs, readable before (and without) validating the others, so
    that every command logs the configured way, even one that fails on another setting."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    icx_log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] | None = Field(
        default=None, description="default: INFO for icx serve, WARNING for other commands"
    )
    icx_log_format: LogFormat = Field(default=LogFormat.AUTO)

    @field_validator("icx_log_level", mode="before")
    @classmethod
    def _level_any_case(cls, value: object) -> object:
        # An empty ICX_LOG_LEVEL= means the command's default, like leaving it out.
        return (value.strip().upper() or None) if isinstance(value, str) else value


class Settings(LogSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = Field(
        default="sqlite:///icx.db",
        description="SQLAlchemy URL: sqlite:///path.db or postgresql://user:pass@host/db",
    )
    slack_bot_token: SecretStr | None = Field(default=None, description="xoxb-… bot token")
    slack_signing_secret: SecretStr | None = Field(default=None)
    slack_app_token: SecretStr | None = Field(
        default=None, description="xapp-… token; when set, Slack is reached over Socket Mode"
    )
    slack_api_url: str = Field(default=DEFAULT_SLACK_API_URL)
    microsoft_app_id: str | None = Field(
        default=None, pattern=AAD_GUID, description="the Azure Bot's Microsoft App ID"
    )
    microsoft_app_password: SecretStr | None = Field(default=None)
    microsoft_app_type: MicrosoftAppType = Field(default=MicrosoftAppType.MULTI_TENANT)
    microsoft_app_tenant_id: str | None = Field(default=None, pattern=AAD_GUID)
    icx_teams_tenants: str = Field(
        default="",
        description="comma-separated Microsoft 365 tenant ids served in Teams (default: "
        "MICROSOFT_APP_TENANT_ID); activities from any other organisation are ignored",
    )
    icx_teams_without_auth: bool = Field(
        default=False,
        description="accept Teams activities without a Microsoft App ID (local testing only)",
    )
    icx_api_token: SecretStr | None = Field(
        default=None, description="bearer token of the intake API"
    )
    icx_secret_key: SecretStr | None = Field(
        default=None, description="server secret for keyed hashes of respondents"
    )
    # Helpdesk webhooks (POST /api/v1/webhooks/{tool}); a tool without its secret gets 404.
    icx_jira_webhook_secret: SecretStr | None = Field(
        default=None, description="the Secret of the Jira admin webhook (X-Hub-Signature)"
    )
    icx_servicenow_webhook_secret: SecretStr | None = Field(
        default=None, description="the key the ServiceNow business rule signs with (X-Icx-*)"
    )
    icx_zendesk_webhook_secret: SecretStr | None = Field(
        default=None, description="the Zendesk webhook's signing secret"
    )
    icx_config: Path = Field(default=Path("departments.yml"))
    host: str = Field(default="0.0.0.0")
    port: int = Field(default=3000, ge=1, le=65535)
    icx_shutdown_timeout: float = Field(
        default=20.0,
        gt=0,
        le=3600,
        description="seconds icx serve takes at most to stop on SIGTERM: requests and sends "
        "in flight finish, then it exits (keep it below the orchestrator's grace period)",
    )
    icx_metrics_token: SecretStr | None = Field(
        default=None, description="bearer token GET /metrics requires; unset: /metrics is open"
    )

    @field_validator("slack_api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        # slack_sdk joins base_url and the method name without adding a slash.
        return value if value.endswith("/") else value + "/"

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xoxb-"):
            raise ValueError("must be a bot token starting with xoxb- (OAuth & Permissions page)")
        return value

    @field_validator("slack_app_token")
    @classmethod
    def _app_token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xapp-"):
            raise ValueError(
                "must be an app-level token starting with xapp- (Basic Information page)"
            )
        return value

    @field_validator(
        "icx_jira_webhook_secret", "icx_servicenow_webhook_secret", "icx_zendesk_webhook_secret"
    )
    @classmethod
    def _webhook_secret_strength(cls, value: SecretStr | None) -> SecretStr | None:
        # Whoever knows the secret can make icx ask anyone for feedback: no short ones.
        if value is not None and len(value.get_secret_value().strip()) < 16:
            raise ValueError(
                "must be at least 16 characters; let the helpdesk generate it, or run "
                "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        return value

    @model_validator(mode="after")
    def _teams_credentials(self) -> "Settings":
        if self.microsoft_app_id is None:
            return self
        if self.icx_teams_without_auth:
            raise ValueError(
                "ICX_TEAMS_WITHOUT_AUTH turns authentication off and cannot be combined with "
                "MICROSOFT_APP_ID; unset it in production"
            )
        kind = self.microsoft_app_type
        if kind != MicrosoftAppType.USER_ASSIGNED_MSI and self.microsoft_app_password is None:
            raise ValueError(
                f"MICROSOFT_APP_PASSWORD is required for a {kind} bot: create a client secret "
                "under the app registration's Certificates & secrets"
            )
        if kind != MicrosoftAppType.MULTI_TENANT and self.microsoft_app_tenant_id is None:
            raise ValueError(
                f"MICROSOFT_APP_TENANT_ID is required for a {kind} bot: copy the Directory "
                "(tenant) ID from the app registration's Overview page"
            )
        return self

    @property
    def slack_enabled(self) -> bool:
        return self.slack_bot_token is not None

    @property
    def teams_tenants(self) -> frozenset[str]:
        listed = {t.strip().lower() for t in self.icx_teams_tenants.split(",") if t.strip()}
        if self.microsoft_app_tenant_id:
            listed.add(self.microsoft_app_tenant_id.lower())
        return frozenset(listed)

    @property
    def teams_enabled(self) -> bool:
        return self.microsoft_app_id is not None or self.icx_teams_without_auth
