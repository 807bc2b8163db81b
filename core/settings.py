"""The one settings object: environment variables and `.env`."""

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SLACK_API_URL = "https://slack.com/api/"


class Settings(BaseSettings):
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
    icx_api_token: SecretStr | None = Field(
        default=None, description="bearer token of the intake API"
    )
    icx_secret_key: SecretStr | None = Field(
        default=None, description="server secret for keyed hashes of respondents"
    )
    icx_config: Path = Field(default=Path("departments.yml"))
    host: str = Field(default="0.0.0.0")
    port: int = Field(default=3000, ge=1, le=65535)

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

    @property
    def slack_enabled(self) -> bool:
        return self.slack_bot_token is not None
