"""One injectable clock: services ask it for the time so tests and simulations can move it."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("the clock needs an aware datetime")
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta

    def set(self, moment: datetime) -> None:
        self._now = moment


class OffsetClock:
    """The system's time plus an offset in seconds read from a file, for every process of a
    simulation at once (`forecourt simulate` compresses weeks into minutes by writing a larger
    offset: SLA timers, retry rounds and recovery cadences then fall due as they would).

    The file is read again only when it changes (one `stat` per reading); a missing or
    unreadable file is an offset of 0. Only with `FORECOURT_ENV=development`
    (`CommonSettings.check_safe`): a production service never takes its time from a file."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._seen: tuple[int, int] | None = None
        self._offset = timedelta(0)

    def offset(self) -> timedelta:
        try:
            stat = os.stat(self._path)
        except OSError:
            return timedelta(0)
        key = (stat.st_mtime_ns, stat.st_size)
        if key != self._seen:
            try:
                self._offset = timedelta(seconds=float(self._path.read_text().strip() or 0))
            except (OSError, ValueError):
                return self._offset  # caught mid-write: the last offset read, until it settles
            self._seen = key
        return self._offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset()

    @staticmethod
    def write(path: Path, offset: timedelta) -> None:
        """Set the offset every process reading `path` sees (atomically: a rename)."""
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(f"{offset.total_seconds():.6f}\n")
        os.replace(temporary, path)


def service_clock(clock_file: str | None) -> Clock:
    """The clock a service runs on: the system's, or with `FORECOURT_CLOCK_FILE` an offset."""
    return OffsetClock(Path(clock_file)) if clock_file else SystemClock()
