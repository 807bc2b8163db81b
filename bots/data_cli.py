"""`icx forget` and `icx export`: the data duties of GUIDE §6 on the command line."""

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from pathlib import Path

from core import export
from core import forget as erasure
from core.config import Config, ConfigError, load_company, load_settings, require
from core.context import Icx
from core.identity import Keyer
from storage.db import Database


def _config() -> Config:
    settings = load_settings()
    return Config(settings, load_company(settings.icx_config))


async def _check_schema(db: Database) -> None:
    from storage.migrate import schema_state  # Alembic loads only for commands that need it

    problem = (await schema_state(db.engine)).problem()
    if problem is not None:
        raise ConfigError(problem)


# --- icx forget -----------------------------------------------------------------------------


@asynccontextmanager
async def _icx_for_forget(config: Config, directories: bool) -> AsyncIterator[Icx]:
    """By id only the database and the secret are needed; by email the directories too, which
    means connecting to Slack as `icx serve` does."""
    settings = config.settings
    require(settings, "icx_secret_key", purpose="icx forget")
    assert settings.icx_secret_key is not None
    if directories:
        from bots.runtime import Runtime, RuntimeOptions

        runtime = Runtime(config, RuntimeOptions(background=False, listen=False))
        try:
            await runtime.start()
        except BaseException:
            await runtime.stop()  # closes what start() opened before it failed
            raise
        try:
            yield runtime.icx
        finally:
            await runtime.stop()
        return
    try:
        keyer = Keyer(settings.icx_secret_key.get_secret_value())
    except ValueError as error:
        raise ConfigError(str(error)) from None
    db = Database(settings.database_url)
    try:
        await _check_schema(db)
        yield Icx(config.company, db, keyer)
    finally:
        await db.dispose()


def _forget(args: argparse.Namespace) -> None:
    try:
        identities = [erasure.slack_user(u) for u in args.slack_user or []]
        identities += [erasure.teams_user(u) for u in args.teams_user or []]
        emails = [erasure.email_address(e) for e in args.email or []]
    except erasure.ForgetError as error:
        raise ConfigError(str(error)) from None
    if not identities and not emails:
        raise ConfigError("name the person: --slack-user U…, --teams-user <id> or --email …")
    config = _config()

    async def main() -> tuple[erasure.ForgetReport, list[erasure.Identity]]:
        async with _icx_for_forget(config, directories=bool(emails)) as icx:
            everyone = list(identities)
            for email in emails:
                resolution = await erasure.resolve_email(icx, email)
                print(f"{email}:")
                for note in resolution.notes:
                    print(f"  {note}")
                everyone += [i for i in resolution.identities if i not in everyone]
            return await erasure.forget(icx, everyone, emails, dry_run=args.dry_run), everyone

    try:
        report, everyone = asyncio.run(main())
    except erasure.ForgetError as error:
        raise ConfigError(str(error)) from None
    who = ", ".join(i.address for i in everyone) or "(no chat identity found)"
    print(f"{'would remove' if args.dry_run else 'removed'} for {who}:")
    width = max(len(label) for label, _ in report.counts())
    for label, count in report.counts():
        print(f"  {label:<{width}}  {count}")
    if args.dry_run:
        print("dry run: nothing was changed")
    places = erasure.configured_mentions(config.company, everyone, emails)
    if places:
        print(f"still named in the departments file, edit it by hand: {', '.join(places)}")
    if emails and not everyone:
        # Nothing keyed could be found: say so in the exit status, for scripts.
        print("the email could not be resolved to a Slack or Teams user", file=sys.stderr)
        raise SystemExit(1)


# --- icx export -----------------------------------------------------------------------------


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("a date like 2026-01-31") from None


def _export(args: argparse.Namespace) -> None:
    config = _config()
    company = config.company
    if args.department:
        departments = []
        for key in args.department:
            department = company.department(key)
            if department is None:
                known = ", ".join(d.key for d in company.departments)
                raise ConfigError(f"unknown department {key!r}; known: {known}")
            departments.append(department)
    else:
        departments = list(company.departments)
    try:
        export.periods(args.period, args.start, args.end)
    except export.ExportError as error:
        raise ConfigError(str(error)) from None

    async def main() -> str:
        db = Database(config.settings.database_url)
        try:
            await _check_schema(db)
            now = datetime.now(UTC)
            async with db.session() as session:
                found = await export.rows(
                    session, company, departments, args.period, args.start, args.end, now
                )
        finally:
            await db.dispose()
        if args.format == "json":
            return export.as_json(found, company, args.period, args.start, args.end, now)
        return export.as_csv(found)

    text = asyncio.run(main())
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)


def add_commands(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    forget = commands.add_parser(
        "forget",
        help="erase a person: their answers, prompts, interactions, opt-out, stored references",
    )
    forget.add_argument("--slack-user", action="append", help="Slack user id, U…")
    forget.add_argument("--teams-user", action="append", help="Microsoft Entra object id")
    forget.add_argument("--email", action="append", help="resolved through Slack and Teams")
    forget.add_argument("--dry-run", action="store_true", help="count only, change nothing")
    forget.set_defaults(run=_forget)

    scores = commands.add_parser(
        "export", help="per-department scores per week, month or quarter, as CSV or JSON"
    )
    scores.add_argument("--from", dest="start", type=_day, required=True, help="YYYY-MM-DD")
    scores.add_argument("--to", dest="end", type=_day, required=True, help="YYYY-MM-DD")
    scores.add_argument(
        "--department", action="append", help="department key, repeatable (default: all)"
    )
    scores.add_argument("--period", choices=export.KINDS, default="month")
    scores.add_argument("--format", choices=export.FORMATS, default="csv")
    scores.add_argument("--out", type=Path, help="file to write (default: standard output)")
    scores.set_defaults(run=_export)
