"""After a fault the harness puts right only what is really down: a database slow to answer
on a loaded machine is waited for, not started again (which fails: "already running")."""

from __future__ import annotations

from pathlib import Path

from forecourt_chaos.adapters.cleanup import Cleanup
from forecourt_chaos.service_layer.stack import Stack, StackConfig


class _Proxies:
    async def heal(self, name: str) -> None:
        return None


class _Rabbit:
    def vm_running(self) -> bool:
        return True

    async def answers(self) -> bool:
        return True

    async def wait_ready(self) -> None:
        return None


class _Postgres:
    def __init__(self, *, running: bool) -> None:
        self._running = running
        self.starts = 0
        self.waits: list[float | None] = []

    async def wait_ready(self, wait_s: float | None = None) -> None:
        self.waits.append(wait_s)
        if wait_s is not None and len(self.waits) == 1:
            raise TimeoutError  # no answer within the first, short wait

    async def running(self) -> bool:
        return self._running

    async def start(self) -> None:
        self.starts += 1


def _stack(tmp_path: Path, pg: _Postgres) -> Stack:
    stack = Stack(Cleanup(tmp_path), StackConfig(services=[]), say=lambda _: None)
    stack.proxies = _Proxies()  # type: ignore[assignment]
    stack.rabbit = _Rabbit()  # type: ignore[assignment]
    stack.pg = pg  # type: ignore[assignment]
    return stack


async def test_a_slow_but_running_database_is_waited_for_not_started(tmp_path: Path) -> None:
    pg = _Postgres(running=True)
    fixed = await _stack(tmp_path, pg).heal_all()
    assert pg.starts == 0
    assert fixed == []
    assert len(pg.waits) == 2  # the short wait, then the full one


async def test_a_stopped_database_is_started(tmp_path: Path) -> None:
    pg = _Postgres(running=False)
    fixed = await _stack(tmp_path, pg).heal_all()
    assert pg.starts == 1
    assert fixed == ["postgres started"]
