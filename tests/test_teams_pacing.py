"""Teams' per-conversation send limits are kept before sending (GUIDE §7)."""

import asyncio

from bots.teams.pacing import LIMITS, ConversationPacer


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_seven_sends_a_second_then_a_wait() -> None:
    clock = Ticks()
    pacer = ConversationPacer(LIMITS, clock)
    for _ in range(7):
        assert pacer.delay("a:1") == 0.0
        asyncio.run(pacer.turn("a:1"))
    assert pacer.delay("a:1") == 1.0  # the 8th in the same instant waits out the 1 s window
    assert pacer.delay("a:other") == 0.0  # other conversations are not held back


def test_no_window_is_ever_exceeded() -> None:
    clock = Ticks()
    pacer = ConversationPacer(LIMITS, clock)
    sent: list[float] = []
    for _ in range(200):
        clock.now += pacer.delay("c") + 0.001
        asyncio.run(pacer.turn("c"))
        sent.append(clock.now)
    for count, seconds in LIMITS:
        for i in range(len(sent)):
            inside = [t for t in sent[i:] if t - sent[i] < seconds]
            assert len(inside) <= count, (count, seconds)


async def test_turn_waits_for_the_free_slot() -> None:
    pacer = ConversationPacer(((2, 0.2),))
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.gather(*(pacer.turn("c") for _ in range(3)))
    # Two go at once; the third waits for the first to leave the 0.2 s window.
    assert loop.time() - started >= 0.19
