"""The `icx` command."""

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bots import data_cli
from core.config import Config, ConfigError, load_company, load_settings
from core.i18n import translator
from core.periods import MAX_DAYS
from storage.db import UnsupportedDatabase

if TYPE_CHECKING:  # matplotlib stays unloaded for commands that draw nothing
    from core.digester import Outcome
    from core.posts import Post


def _config() -> Config:
    settings = load_settings()
    return Config(settings, load_company(settings.icx_config))


def _serve(_: argparse.Namespace) -> None:
    from bots.runtime import Runtime
    from bots.server import serve_forever

    config = _config()
    settings = config.settings

    async def main() -> None:
        await serve_forever(Runtime(config), settings.host, settings.port)

    asyncio.run(main())


def _db(args: argparse.Namespace) -> None:
    from storage.db import Database
    from storage.migrate import schema_state, upgrade

    settings = load_settings()

    async def main() -> None:
        db = Database(settings.database_url)
        try:
            if args.action == "upgrade":
                await upgrade(db.engine)
            state = await schema_state(db.engine)
            print(f"database {db.engine.url.render_as_string(hide_password=True)}")
            problem = state.problem()
            if problem is None:
                print(f"schema revision {state.current} (latest {state.head}): up to date")
            else:
                print(f"schema: {problem}")
                # Scripts (deploy steps, health checks) can tell from the exit status.
                raise SystemExit(1)
        finally:
            await db.dispose()

    asyncio.run(main())


def _score(args: argparse.Namespace) -> None:
    from core import score_command
    from core.context import Icx
    from core.identity import Keyer
    from storage.db import Database
    from storage.migrate import schema_state

    config = _config()
    text = " ".join(args.department)
    if args.days is not None:
        text += f" {args.days}d"
    elif args.period:
        text += f" {args.period}"

    async def main() -> None:
        db = Database(config.settings.database_url)
        # Scores need no secret: they never look at who answered.
        icx = Icx(config.company, db, Keyer("scores-read-no-identities"))
        try:
            problem = (await schema_state(db.engine)).problem()
            if problem is not None:
                raise ConfigError(problem)
            answer = await score_command.answer(icx, text, translator(args.locale))
        finally:
            await db.dispose()
        print(answer.title)
        print("=" * len(answer.title))
        for line in answer.lines:
            if line:
                print(line)
        if answer.footnote:
            print(f"\n{answer.footnote}")

    asyncio.run(main())


def _catalogs(args: argparse.Namespace) -> None:
    from core import catalogs

    reports = (
        catalogs.update_all()
        if args.action == "update"
        else [catalogs.check(locale) for locale in catalogs.SUPPORTED_LOCALES]
    )
    failed = False
    for report in reports:
        print(f"{report.locale}: {'complete' if report.ok else 'incomplete'}")
        for label, items in (
            ("missing", report.missing),
            ("stale", report.stale),
            ("untranslated", report.untranslated),
        ):
            for item in items:
                print(f"  {label}: {item!r}")
        failed = failed or not report.ok
    if failed:
        print("Run `icx catalogs update`, then translate the empty entries.", file=sys.stderr)
        sys.exit(1)


def _demo(args: argparse.Namespace) -> None:
    from bots.demo.run import run_demo

    asyncio.run(run_demo(args.database_url, locale=args.locale))


def _teams_package(args: argparse.Namespace) -> None:
    from bots.teams.package import Developer, build_package, default_developer

    # Only the Microsoft App ID matters here: no Slack settings, no departments file.
    settings = load_settings()
    default = default_developer()
    developer = Developer(
        website_url=args.website_url or default.website_url,
        privacy_url=args.privacy_url or default.privacy_url,
        terms_of_use_url=args.terms_url or default.terms_of_use_url,
    )
    path = build_package(settings, args.out, base_url=args.base_url, developer=developer)
    print(f"wrote {path}")
    print("Upload it in Teams: Apps > Manage your apps > Upload an app (Upload a custom app).")


def _digest(args: argparse.Namespace) -> None:
    from datetime import UTC, datetime

    from bots.runtime import Runtime, RuntimeOptions
    from core.weeks import IsoWeek, WeekError

    config = _config()
    company = config.company
    if args.department:
        department = company.department(args.department)
        if department is None:
            known = ", ".join(d.key for d in company.departments)
            raise ConfigError(f"unknown department {args.department!r}; known: {known}")
        departments = [department]
    else:
        departments = list(company.departments)
    try:
        chosen = IsoWeek.parse(args.period) if args.period else None
    except WeekError as error:
        raise ConfigError(str(error)) from None
    if args.force and not args.post:
        raise ConfigError("--force only means something with --post")
    if args.post and chosen is not None:
        # Posting counts as the week's one digest: a week still running would use it up.
        unfinished = [d.key for d in departments if chosen.period(d.zone).end > datetime.now(UTC)]
        if unfinished:
            raise ConfigError(
                f"{chosen.label} is not over yet for {', '.join(unfinished)}; print it without "
                "--post, or post a finished week"
            )

    async def main() -> None:
        runtime = Runtime(config, RuntimeOptions(background=False, listen=False))
        await runtime.start()
        try:
            now = datetime.now(UTC)
            for department in departments:
                week = chosen or IsoWeek.before(now, department.zone)
                if args.post:
                    outcomes = await runtime.digester.department(department, week, args.force)
                    _report(f"{department.key} {week.label}", outcomes)
                else:
                    post = await runtime.digester.department_post(department, week)
                    _print_post(post, Path(f"digest-{department.key}-{week.label}.png"))
            if args.organisation:
                week = chosen or IsoWeek.before(now, company.leadership.zone)
                if args.post:
                    _report(
                        f"organisation {week.label}",
                        await runtime.digester.organisation(week, args.force),
                    )
                else:
                    _print_post(await runtime.digester.organisation_post(week), None)
        finally:
            await runtime.stop()

    asyncio.run(main())


def _print_post(post: "Post", chart: Path | None) -> None:
    print(post.title)
    print("=" * len(post.title))
    for section in post.sections:
        if section.heading:
            print(f"\n{section.heading}")
        for line in section.lines:
            print(f"  {line}")
    if post.footnote:
        print(f"\n{post.footnote}")
    if post.image is not None and chart is not None:
        chart.write_bytes(post.image.png)
        print(f"\nchart: {chart}")
    print()


def _report(what: str, outcomes: "list[Outcome]") -> None:
    if not outcomes:
        print(f"{what}: nothing to post (already posted, being posted, or no channel configured)")
    for outcome in outcomes:
        state = "posted" if outcome.posted else f"not posted: {outcome.error}"
        print(f"{what} -> {outcome.destination.address}: {state}")
    if any(not o.posted for o in outcomes):
        raise SystemExit(1)


def _days(text: str) -> int:
    days = int(text) if text.isdigit() else 0
    if not 1 <= days <= MAX_DAYS:
        raise argparse.ArgumentTypeError(f"a whole number of days from 1 to {MAX_DAYS}")
    return days


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="icx", description="Internal customer experience bot.")
    main.add_argument("-v", "--verbose", action="store_true", help="log more")
    commands = main.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the bot: Slack, intake API, background jobs")
    serve.set_defaults(run=_serve)

    db = commands.add_parser("db", help="database schema")
    db.add_argument("action", choices=["upgrade", "status"])
    db.set_defaults(run=_db)

    score = commands.add_parser("score", help="print a department's scores, like /icx-score")
    score.add_argument("department", nargs="*", help="department key, name or alias; none: all")
    group = score.add_mutually_exclusive_group()
    group.add_argument("--days", type=_days, help="rolling window in days (default 30)")
    group.add_argument("--period", help="7d, 30d, 90d or quarter")
    score.add_argument("--locale", default="en", help="en or zh_Hans")
    score.set_defaults(run=_score)

    digest = commands.add_parser(
        "digest", help="print a weekly digest (and its chart), or post it now"
    )
    digest.add_argument("--department", help="department key (default: every department)")
    digest.add_argument("--organisation", action="store_true", help="also the leadership digest")
    digest.add_argument("--period", help="ISO week such as 2026-W46 (default: last week)")
    mode = digest.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="print it (the default)")
    mode.add_argument("--post", action="store_true", help="post to the configured channels")
    digest.add_argument(
        "--force", action="store_true", help="with --post: post again even if already posted"
    )
    digest.set_defaults(run=_digest)

    cat = commands.add_parser("catalogs", help="message catalogs: check or update from code")
    cat.add_argument("action", choices=["check", "update"])
    cat.set_defaults(run=_catalogs)

    demo = commands.add_parser("demo", help="an example company end to end, no Slack needed")
    demo.add_argument(
        "--database-url",
        default="sqlite:///icx-demo.db",
        help="where the demo writes (recreated each run; default ./icx-demo.db)",
    )
    demo.add_argument("--locale", default="en", help="en or zh_Hans")
    demo.set_defaults(run=_demo)

    teams = commands.add_parser(
        "teams-package", help="write the Microsoft Teams app package (zip) to upload to Teams"
    )
    teams.add_argument(
        "--out", type=Path, default=Path("icx-teams.zip"), help="default ./icx-teams.zip"
    )
    teams.add_argument("--base-url", help="public https URL of icx, listed as a valid domain")
    teams.add_argument("--website-url", help="https page about the app (default: the project)")
    teams.add_argument("--privacy-url", help="https privacy statement (default: the project)")
    teams.add_argument("--terms-url", help="https terms of use (default: the project)")
    teams.set_defaults(run=_teams_package)

    data_cli.add_commands(commands)
    return main


def _configure_logging(args: argparse.Namespace) -> None:
    from pydantic import ValidationError

    from bots.ops import logs
    from core.settings import LogSettings, Settings

    try:
        wanted = LogSettings()
    except ValidationError as error:
        names = ", ".join(str(e["loc"][0]).upper() for e in error.errors() if e["loc"])
        print(f"icx: invalid {names}: {error.errors()[0]['msg']}", file=sys.stderr)
        sys.exit(2)
    level = logging.INFO if args.command == "serve" else logging.WARNING
    if wanted.icx_log_level is not None:
        level = logging.getLevelNamesMapping()[wanted.icx_log_level]
    if args.verbose:
        level = min(level, logging.INFO)
    logs.configure(level, wanted.icx_log_format)
    try:
        logs.remember_secrets(Settings())
    except ValidationError:
        pass  # a command that needs the settings says what is wrong with them


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    _configure_logging(args)
    try:
        args.run(args)
    except (ConfigError, UnsupportedDatabase) as error:
        print(f"icx: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
