"""Load for the fault tests: people asked through the intake API until their prompts are
delivered (through the outbox, to the Slack stand-in), then signed satisfaction taps at a steady
rate, open loop: each tap leaves at its time whatever became of the ones before, so an outage
shows as failed taps instead of a paused sender."""

import asyncio
import collections
import itertools
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from sqlmodel import col, func, select

from storage.db import Database
from storage.models import Prompt
from tests import slack_requests
from tests.conftest import API_TOKEN
from tests.faults.slack import FaultySlack

REQUEST_TIMEOUT = 10.0
# Preparation only. SQLite takes one writer at a time: more intakes at once (with the outbox
# writing too) make some wait out the busy timeout and answer 503; those are asked again.
INTAKE_CONCURRENCY = 4
INTAKE_ATTEMPTS = 5


def person(index: int) -> str:
    return f"U0F{index:07d}"


def add_people(slack: FaultySlack, indexes: range) -> list[str]:
    users = [person(i) for i in indexes]
    for user in users:
        slack.add_user(user, f"Fault Person {user}", email=f"{user.lower()}@acme.example")
    return users


def intake_body(user: str, reference: str) -> dict[str, Any]:
    return {
        "department": "finance",
        "service": "expense-reimbursement",
        "requester": {"slack_user_id": user},
        "source": "faults",
        "reference": reference,
        "occurred_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    }


@dataclass(frozen=True)
class Answer:
    status: int  # 0: no HTTP answer at all (refused, reset, timed out)
    body: Any
    headers: dict[str, str]
    seconds: float
    error: str = ""


async def post_json(
    http: aiohttp.ClientSession, url: str, body: dict[str, Any], **kwargs: Any
) -> Answer:
    began = time.monotonic()
    try:
        async with http.post(url, json=body, **kwargs) as r:
            text = await r.text()
            answer = await r.json(content_type=None) if text else None
            return Answer(r.status, answer, dict(r.headers), time.monotonic() - began)
    except (aiohttp.ClientError, TimeoutError, ValueError) as error:
        return Answer(0, None, {}, time.monotonic() - began, type(error).__name__)


async def ask(http: aiohttp.ClientSession, base_url: str, user: str, reference: str) -> Answer:
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    return await post_json(
        http, f"{base_url}/api/v1/interactions", intake_body(user, reference), headers=headers
    )


@dataclass(frozen=True)
class LivePrompt:
    prompt_id: str
    user: str
    channel_id: str
    message_ts: str


async def ask_everyone(
    urls: Sequence[str], users: list[str], prefix: str = "FAULT"
) -> dict[str, str]:
    """Each person asked once through the intake API, alternating between the servers; their
    prompt ids. A 503 is asked again, as a client of the API should (intake is idempotent)."""
    limit = asyncio.Semaphore(INTAKE_CONCURRENCY)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)

    async def one(http: aiohttp.ClientSession, index: int, user: str) -> tuple[str, str]:
        for attempt in range(INTAKE_ATTEMPTS):
            async with limit:
                answer = await ask(http, urls[index % len(urls)], user, f"{prefix}-{user}")
            if answer.status != 503:
                break
            await asyncio.sleep(0.2 * (attempt + 1))
        assert answer.status in (200, 201), f"intake for {user}: {answer}"
        assert answer.body["prompt"]["status"] == "scheduled", answer.body
        return user, str(answer.body["prompt"]["id"])

    async with aiohttp.ClientSession(timeout=timeout) as http:
        return dict(await asyncio.gather(*(one(http, i, u) for i, u in enumerate(users))))


async def until_delivered(db: Database, prompt_ids: list[str], within: float) -> list[Prompt]:
    """Polls the database until no prompt among these is pending any more."""
    deadline = time.monotonic() + within
    while True:
        async with db.session() as session:
            rows = (await session.exec(select(Prompt).where(col(Prompt.id).in_(prompt_ids)))).all()
        if len(rows) == len(prompt_ids) and all(p.status != "pending" for p in rows):
            return list(rows)
        if time.monotonic() > deadline:
            pending = sum(p.status == "pending" for p in rows)
            raise AssertionError(
                f"{pending} of {len(prompt_ids)} prompts undelivered in {within} s"
            )
        await asyncio.sleep(0.1)


async def live_prompts(
    db: Database, urls: Sequence[str], slack: FaultySlack, users: list[str]
) -> list[LivePrompt]:
    """Asks everyone and waits for the outbox to deliver every prompt."""
    asked = await ask_everyone(urls, users)
    rows = await until_delivered(db, list(asked.values()), within=30 + len(users) / 5)
    by_id = {p.id: p for p in rows}
    prompts = []
    for user, prompt_id in asked.items():
        prompt = by_id[prompt_id]
        assert prompt.status == "sent" and prompt.channel_id and prompt.message_ts, prompt
        prompts.append(LivePrompt(prompt_id, user, prompt.channel_id, prompt.message_ts))
    return prompts


async def pending_count(db: Database) -> int:
    async with db.session() as session:
        return int(
            (await session.exec(select(func.count()).where(Prompt.status == "pending"))).one()
        )


# --- open-loop load -------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    key: str  # the prompt tapped, or the intake reference
    value: int  # the satisfaction tapped (0 for intake)
    status: int  # 0: no HTTP answer
    seconds: float
    at: float  # monotonic time it was sent
    error: str = ""  # why there was no answer
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def acknowledged(self) -> bool:
        return self.status in (200, 201)


class Refused(Exception):
    """No server took the connection: the request reached nobody and may be sent again."""


@dataclass
class OpenLoop:
    """Sends one request per item, `rate` a second, round robin over `urls`, open loop: each
    leaves at its time whatever became of the ones before, so an outage shows as failed
    requests, not as a paused sender. A request refused at connect (no server listening)
    reached nobody, and one answered 503 stored nothing: either's item is sent again later,
    as a person or a client would, so an outage does not use items up. Results are appended
    as answers arrive."""

    items: list[Any]
    rate: float
    urls: Sequence[str]
    results: list[Result] = field(default_factory=list)
    refused: int = 0
    _unused: collections.deque[Any] = field(default_factory=collections.deque)
    _task: asyncio.Task[None] | None = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _sending: set[asyncio.Task[None]] = field(default_factory=set)

    async def send(self, http: aiohttp.ClientSession, url: str, item: Any, index: int) -> Result:
        raise NotImplementedError

    def start(self) -> None:
        self._unused = collections.deque(self.items)
        self._task = asyncio.create_task(self._run())

    async def all_sent(self, within: float) -> list[Result]:
        """Waits until every item was sent and answered."""
        assert self._task is not None
        await asyncio.wait_for(asyncio.shield(self._task), within)
        return self.results

    async def finish(self) -> list[Result]:
        """Stops sending and waits for the answers of what was sent."""
        self._stop.set()
        assert self._task is not None
        await self._task
        return self.results

    @property
    def sent_all(self) -> bool:
        return self._task is not None and self._task.done()

    @property
    def in_flight(self) -> int:
        """Requests sent and not answered yet."""
        return len(self._sending)

    def acknowledged(self, since: float = 0.0) -> int:
        return sum(r.acknowledged and r.at >= since for r in self.results)

    def answered(self, status: int, since: float = 0.0) -> int:
        return sum(r.status == status and r.at >= since for r in self.results)

    async def until(self, check: Callable[[], bool], within: float, what: str) -> None:
        deadline = time.monotonic() + within
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} not within {within} s; {self.summary()}")
            if self.sent_all:
                raise AssertionError(f"ran out of items before {what}; {self.summary()}")
            await asyncio.sleep(0.02)

    def summary(self) -> str:
        counts = collections.Counter(r.status for r in self.results)
        return f"{len(self.results)} answered, by status {dict(counts)}; {self.refused} refused"

    async def _run(self) -> None:
        connector = aiohttp.TCPConnector(limit=0)
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
        loop = asyncio.get_running_loop()
        urls = itertools.cycle(self.urls)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
            start = loop.time() + 0.02
            sending = self._sending
            for index in itertools.count():
                if not self._unused:
                    break
                delay = start + index / self.rate - loop.time()
                if delay > 0:
                    try:
                        await asyncio.wait_for(self._stop.wait(), delay)
                    except TimeoutError:
                        pass
                if self._stop.is_set():
                    break
                task = asyncio.create_task(
                    self._one(http, next(urls), self._unused.popleft(), index)
                )
                sending.add(task)
                task.add_done_callback(sending.discard)
            if sending:
                await asyncio.wait(set(sending))

    async def _one(self, http: aiohttp.ClientSession, url: str, item: Any, index: int) -> None:
        try:
            result = await self.send(http, url, item, index)
        except Refused:
            self.refused += 1
            self._unused.append(item)
            return
        self.results.append(result)
        if result.status == 503:
            # "Try again later", and nothing was stored: the person taps again, the client
            # asks again (later in the queue).
            self._unused.append(item)


async def _post(
    http: aiohttp.ClientSession,
    url: str,
    key: str,
    value: int,
    data: bytes,
    headers: dict[str, str],
) -> Result:
    at = time.monotonic()
    try:
        async with http.post(url, data=data, headers=headers) as r:
            text = await r.text()
            try:
                body: Any = json.loads(text) if text else None
            except ValueError:
                body = text[:200]
            return Result(
                key, value, r.status, time.monotonic() - at, at, "", body, dict(r.headers)
            )
    except aiohttp.ClientConnectorError as error:
        raise Refused from error
    except (aiohttp.ClientError, TimeoutError) as error:
        return Result(key, value, 0, time.monotonic() - at, at, type(error).__name__)


def satisfaction(index: int) -> int:
    return 1 + index % 5


@dataclass
class TapLoad(OpenLoop):
    """Signed satisfaction taps, one per live prompt (its item)."""

    response_url: str = ""

    async def send(
        self, http: aiohttp.ClientSession, url: str, item: LivePrompt, index: int
    ) -> Result:
        value = satisfaction(index)
        payload = slack_requests.button_tap(
            item.prompt_id,
            f"icx_csat_{value}",
            user=item.user,
            channel=item.channel_id,
            ts=item.message_ts,
            response_url=self.response_url,
        )
        body = slack_requests.form_body(payload)
        headers = {"Content-Type": "application/x-www-form-urlencoded", **slack_requests.sign(body)}
        return await _post(http, f"{url}/slack/events", item.prompt_id, value, body, headers)


@dataclass
class IntakeLoad(OpenLoop):
    """New interactions through the intake API, one per person (its item)."""

    prefix: str = "LOAD"

    async def send(self, http: aiohttp.ClientSession, url: str, item: str, index: int) -> Result:
        reference = f"{self.prefix}-{item}"
        body = json.dumps(intake_body(item, reference)).encode()
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {API_TOKEN}"}
        return await _post(http, f"{url}/api/v1/interactions", reference, 0, body, headers)
