"""`icx demo`: Acme's history seeded through the real core, then one feedback request live over
HTTP against the real server, with Slack played by a local stand-in. No workspace, no
configuration, no environment variables."""

import secrets
import time
from datetime import timedelta
from pathlib import Path

import aiohttp
from pydantic import SecretStr

from bots.demo import company as acme
from bots.demo.clock import DemoClock
from bots.demo.database import display_url, prepare, recreate_sqlite, sqlite_path
from bots.demo.history import History, SeedReport
from bots.demo.live import Live
from bots.demo.narrate import heading, paragraph, say, title
from bots.demo.plan import FIRST_TICKET
from bots.demo.slack_side import SlackSide
from bots.runtime import Runtime, RuntimeOptions
from bots.server import RunningServer, start_server
from bots.standin.slack_web_api import SlackStandIn
from core.clock import utcnow
from core.config import Config, parse_company
from core.i18n import DEFAULT_LOCALE, negotiate
from core.settings import Settings

DEFAULT_DATABASE_URL = "sqlite:///icx-demo.db"
WEEKS = 8  # the last 30 days, and most of the 30 days they are compared with
SKIP_NAMES = {
    "cooldown": "cooldown",
    "weekly_budget": "weekly budget",
    "opted_out": "opted out",
    "requester_is_provider": "own ticket",
    "unknown_user": "not in Slack",
    "bot": "bot",
}


async def run_demo(
    database_url: str = DEFAULT_DATABASE_URL,
    *,
    locale: str = DEFAULT_LOCALE,
    scale: float = 1.0,
    weeks: int = WEEKS,
) -> None:
    """The whole demo. `scale` shrinks the company and its volume (the tests use a small one);
    the default is the full demo."""
    if not scale > 0 or weeks < 1:
        raise ValueError("scale must be positive and weeks at least 1")
    began = time.perf_counter()
    shown = negotiate(locale)
    path = sqlite_path(database_url)
    if path is not None:
        recreate_sqlite(path)
    # The people of the live part see Slack in the chosen language; Slack reports it as zh-CN.
    company = acme.build(scale, live_locale="zh-CN" if shown == "zh_Hans" else "en-US")
    standin = SlackStandIn()
    await standin.start()
    try:
        _add_people(standin, company)
        api_token = secrets.token_urlsafe(24)
        settings = _settings(database_url, standin, api_token)
        config = Config(settings, parse_company(company.departments_yaml(), "the demo company"))
        clock = DemoClock()
        # The history ends a few minutes ago; the live part then runs at the real now.
        end = utcnow() - timedelta(minutes=5)
        clock.set(end - timedelta(weeks=weeks))
        server = await _serve(config, clock)
        try:
            _introduce(company, config, standin, database_url, locale, shown)
            history = History(
                runtime=server.runtime,
                clock=clock,
                company=company,
                weeks=weeks,
                end=end,
                seed=acme.SEED,
            )
            say(f"Seeding {weeks} weeks of Acme's past through the real core: week", end="")
            report = await history.seed(scale, on_week=lambda week: say(f" {week}", end=""))
            say()
            _summarize(report)
            clock.release()
            # From here on the outbox runs as in `icx serve`, woken by each new interaction.
            server.runtime.outbox.start()
            async with aiohttp.ClientSession() as http:
                slack = SlackSide(http, server.url, _secret(settings), standin.response_url())
                live = Live(server, standin, slack, http, company, api_token)
                # Ticket numbers go on from the history's.
                await live.run(reference=f"FIN-{FIRST_TICKET + report.interactions}")
        finally:
            await server.stop()
    finally:
        await standin.stop()
    _what_next(database_url, time.perf_counter() - began)


def _add_people(standin: SlackStandIn, company: acme.Company) -> None:
    for person in company.people:
        if person.in_slack:
            standin.add_user(
                person.user_id,
                person.name,
                email=person.email,
                locale=person.locale,
                is_bot=person.is_bot,
            )


def _settings(database_url: str, standin: SlackStandIn, api_token: str) -> Settings:
    # Every field is given, so nothing from the environment or a .env file changes the demo;
    # the secrets are fresh on every run and die with it.
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        slack_bot_token=SecretStr("xoxb-icx-demo"),
        slack_signing_secret=SecretStr(secrets.token_hex(16)),
        slack_app_token=None,
        slack_api_url=standin.api_url,
        icx_api_token=SecretStr(api_token),
        icx_secret_key=SecretStr(secrets.token_hex(32)),
        icx_config=Path("departments.yml"),
        host="127.0.0.1",
        port=3000,
    )


def _secret(settings: Settings) -> str:
    assert settings.slack_signing_secret is not None
    return settings.slack_signing_secret.get_secret_value()


async def _serve(config: Config, clock: DemoClock) -> RunningServer:
    """The real server on an ephemeral port. Background work stays off while the history is
    seeded: the history drives the outbox itself, at the simulated time."""
    runtime = Runtime(config, RuntimeOptions(clock=clock, background=False))
    # The Slack SDK takes HTTPS_PROXY/HTTP_PROXY from the environment and ignores NO_PROXY, and
    # no proxy can reach a stand-in on 127.0.0.1: the demo's Slack calls stay on this machine.
    runtime.slack.client.proxy = runtime.slack.app.client.proxy = None
    try:
        await prepare(runtime.db)
        return await start_server(runtime, "127.0.0.1", 0)
    except BaseException:
        await runtime.stop()
        raise


def _introduce(
    company: acme.Company,
    config: Config,
    standin: SlackStandIn,
    database_url: str,
    locale: str,
    shown: str,
) -> None:
    departments = config.company.departments
    services = sum(len(d.services) for d in departments)
    people = [p for p in company.in_slack if not p.is_bot]
    title("icx demo: Acme, an example company, end to end on this machine")
    paragraph(
        "No Slack workspace and no configuration: a local stand-in answers Slack's Web API at "
        f"{standin.api_url}, and the demo signs its own requests the way Slack does. Everything "
        f"else is the real icx: database ({display_url(database_url)}), core, HTTP server, Slack "
        "adapter."
    )
    if shown == DEFAULT_LOCALE and not locale.lower().startswith("en"):
        say(f"(There is no catalog for {locale!r}: the product's words are shown in English.)")
    say()
    paragraph(
        f"Acme has {len(departments)} service departments "
        f"({', '.join(d.name for d in departments)}) with {services} services, and "
        f"{len(people)} people in Slack."
    )


def _summarize(report: SeedReport) -> None:
    skipped = sum(report.skipped.values())
    why = ", ".join(
        f"{SKIP_NAMES.get(reason, reason)} {count:,}"
        for reason, count in report.skipped.most_common()
    )
    rate = report.answered / report.delivered if report.delivered else 0.0
    say(
        f"Seeded {report.weeks} weeks: {report.interactions:,} interactions, "
        f"{report.delivered:,} prompts, {report.answered:,} answers ({rate:.0%} response rate) "
        f"in {report.seconds:.1f} s."
    )
    paragraph(
        f"Not asked, as the prompt policy decided: {skipped:,} ({why or 'none'}). Of those who "
        f"answered, {report.efforts:,} also rated effort and {report.comments:,} left a comment; "
        f"{report.snoozed:,} tapped “Don't ask me for 30 days”."
    )


def _what_next(database_url: str, seconds: float) -> None:
    heading("What next")
    say("• Connect a real Slack workspace: follow README.md (create the Slack app from its")
    say("  manifest; set SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, ICX_API_TOKEN and ICX_SECRET_KEY;")
    say("  describe your departments in departments.yml; run `icx serve`).")
    say("• Start your departments file from examples/departments.yml.")
    if sqlite_path(database_url) is not None:
        say(f"• The demo's data stays in {display_url(database_url)} until the next `icx demo`.")
    else:
        say(f"• The demo's data stays in {display_url(database_url)}; drop that database to run")
        say("  the demo there again.")
    say()
    say(f"Demo finished in {seconds:.1f} s.")
