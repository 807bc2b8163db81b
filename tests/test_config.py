"""Start-up configuration: every mistake names the file or variable, the field and the fix."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.config import ConfigError, load_company, load_settings, parse_company

EXAMPLE = Path(__file__).parent.parent / "examples" / "departments.yml"


def test_the_shipped_example_is_valid() -> None:
    company = load_company(EXAMPLE)
    assert [d.key for d in company.departments] == ["finance", "it", "people"]
    assert company.policy.reporting_min_n == 5 and company.policy.comment_min_n == 10
    assert company.directory.segment_of("cfo@acme.example") == "funder"
    assert company.directory.segment_of("U0NOBODY01") == "end-user"


def test_defaults_follow_the_guide() -> None:
    company = parse_company({"departments": [{"key": "it", "name": "IT"}]})
    policy = company.policy
    assert (policy.cooldown_days, policy.weekly_budget, policy.expiry_days) == (14, 3, 7)
    assert (policy.reporting_min_n, policy.comment_min_n, policy.snooze_days) == (5, 10, 30)
    reasons = company.departments[0].effective_reasons
    assert [r.key for r in reasons][:3] == ["speed", "communication", "expertise"]


def test_missing_file_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        load_company(tmp_path / "departments.yml")
    assert "does not exist" in str(error.value) and "examples/departments.yml" in str(error.value)


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "departments.yml"
    path.write_text("departments:\n  - key: it\n   name: [IT\n")
    with pytest.raises(ConfigError) as error:
        load_company(path)
    assert str(path) in str(error.value) and "line" in str(error.value)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {"departments": [{"key": "Finance", "name": "Finance"}]},
            "departments[0] (Finance).key: must be lowercase letters, digits and dashes",
        ),
        (
            {"departments": [{"key": "it", "name": "IT", "timezone": "Europe/Pari"}]},
            "departments[0] (it).timezone: 'Europe/Pari' is not a known time zone; use an IANA",
        ),
        (
            {"departments": [{"key": "it", "name": "IT", "slak": {}}]},
            "departments[0] (it).slak: is not a known field",
        ),
        (
            {
                "departments": [
                    {"key": "it", "name": "IT"},
                    {"key": "hr", "name": "HR", "aliases": ["IT"]},
                ]
            },
            "the name 'it' is used by both it and hr",
        ),
        (
            {
                "policy": {"reporting_min_n": 8, "comment_min_n": 5},
                "departments": [{"key": "it", "name": "IT"}],
            },
            "policy: comment_min_n must be at least reporting_min_n",
        ),
        ({"departments": []}, "departments: needs at least one entry"),
        (
            {"departments": [{"key": "it", "name": "IT", "locale": "fr"}]},
            "departments[0] (it).locale: 'fr' is not a shipped language",
        ),
        (
            {
                "directory": {"segments": {"sponsor": ["U1"]}},
                "departments": [{"key": "it", "name": "IT"}],
            },
            "unknown segment(s) sponsor",
        ),
        ({"departments": [{"name": "IT"}]}, "departments[0].key: is required"),
        (
            {
                "departments": [
                    {"key": "it", "name": "IT", "slack": {"alert_channel": "C0SHARED"}},
                    {"key": "hr", "name": "HR", "slack": {"digest_channel": "C0SHARED"}},
                ]
            },
            "channel C0SHARED is configured for both it and hr",
        ),
        (
            {
                "leadership": {"slack_channel": "C0SHARED"},
                "departments": [
                    {"key": "it", "name": "IT", "slack": {"digest_channel": "C0SHARED"}}
                ],
            },
            "leadership channel C0SHARED is also a channel of it",
        ),
        (
            {"departments": [{"key": "it", "name": "IT", "digest": {"schedule": "9 mondays"}}]},
            "departments[0] (it).digest.schedule: '9 mondays' is not a cron expression",
        ),
    ],
)
def test_invalid_departments_name_the_field(data: dict[str, object], expected: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_company(data, source="departments.yml")
    assert expected in str(error.value)
    assert str(error.value).startswith("departments.yml has ")


def test_invalid_environment_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "eighty")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxp-user-token")
    with pytest.raises(ConfigError) as error:
        load_settings(_env_file=None)
    message = str(error.value)
    assert (
        "PORT:" in message and "SLACK_BOT_TOKEN: must be a bot token starting with xoxb-" in message
    )


APP_ID = "00000000-0000-4000-8000-0000000000a1"
TENANT = "00000000-0000-4000-8000-00000000000t".replace("t", "1")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"MICROSOFT_APP_ID": "my-bot"}, "MICROSOFT_APP_ID: String should match pattern"),
        ({"MICROSOFT_APP_ID": APP_ID}, "MICROSOFT_APP_PASSWORD is required for a MultiTenant"),
        (
            {
                "MICROSOFT_APP_ID": APP_ID,
                "MICROSOFT_APP_PASSWORD": "s3cret",
                "MICROSOFT_APP_TYPE": "SingleTenant",
            },
            "MICROSOFT_APP_TENANT_ID is required for a SingleTenant bot",
        ),
        (
            {"MICROSOFT_APP_ID": APP_ID, "MICROSOFT_APP_TYPE": "UserAssignedMSI"},
            "MICROSOFT_APP_TENANT_ID is required for a UserAssignedMSI bot",
        ),
        ({"MICROSOFT_APP_TYPE": "Multi"}, "MICROSOFT_APP_TYPE: Input should be 'MultiTenant'"),
        (
            {
                "MICROSOFT_APP_ID": APP_ID,
                "MICROSOFT_APP_PASSWORD": "s3cret",
                "ICX_TEAMS_WITHOUT_AUTH": "true",
            },
            "ICX_TEAMS_WITHOUT_AUTH turns authentication off and cannot be combined",
        ),
    ],
)
def test_teams_settings_name_the_variable_and_the_fix(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as error:
        load_settings(_env_file=None)
    assert expected in str(error.value)


def test_teams_is_on_with_an_app_id_or_explicitly_without_auth(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert not load_settings(_env_file=None).teams_enabled
    monkeypatch.setenv("MICROSOFT_APP_ID", APP_ID)
    monkeypatch.setenv("MICROSOFT_APP_PASSWORD", "s3cret")
    settings = load_settings(_env_file=None)
    assert settings.teams_enabled and settings.microsoft_app_type == "MultiTenant"
    monkeypatch.setenv("MICROSOFT_APP_TYPE", "UserAssignedMSI")
    monkeypatch.setenv("MICROSOFT_APP_TENANT_ID", TENANT)
    monkeypatch.delenv("MICROSOFT_APP_PASSWORD")
    assert load_settings(_env_file=None).teams_enabled  # a managed identity has no secret


def test_dot_env_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("DATABASE_URL=sqlite:///from-dotenv.db\nPORT=8088\n")
    settings = load_settings()
    assert settings.database_url == "sqlite:///from-dotenv.db" and settings.port == 8088


def _icx(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ICX_"))}
    return subprocess.run(
        [sys.executable, "-m", "bots.cli", *args],
        cwd=cwd,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_serve_without_configuration_explains_instead_of_a_traceback(tmp_path: Path) -> None:
    result = _icx("serve", cwd=tmp_path)
    assert result.returncode == 2
    assert "departments file departments.yml does not exist" in result.stderr
    assert "Traceback" not in result.stderr

    result = _icx("serve", cwd=tmp_path, env={"ICX_CONFIG": str(EXAMPLE)})
    assert result.returncode == 2
    assert "icx serve needs ICX_SECRET_KEY, ICX_API_TOKEN" in result.stderr
    assert "Traceback" not in result.stderr

    result = _icx(
        "serve",
        cwd=tmp_path,
        env={
            "ICX_CONFIG": str(EXAMPLE),
            "ICX_SECRET_KEY": "0123456789abcdef0123",
            "ICX_API_TOKEN": "token",
        },
    )
    assert result.returncode == 2
    assert "set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET" in result.stderr
