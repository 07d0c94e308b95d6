"""POST /v1/leads/bulk with a streamed CSV, then the job, then the last event on the broker."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from bench.common.stats import by_fifth
from bench.intake.data import CSV_MAPPING, CsvFile
from bench.intake.probe import Probe, Seen, collect
from bench.intake.service import Tenant

EVENTS = ("lead.ingested", "lead.duplicate", "lead.rejected")


@dataclass(frozen=True)
class BulkResult:
    rows: int
    duplicates_generated: int
    megabytes: float
    status: str
    error: str | None
    upload_s: float
    job_done_s: float
    last_event_s: float | None
    rows_per_s_job: float
    rows_per_s_events: float | None
    # rows/s over each fifth of the file, from the job's progress: a falling series means the
    # cost per row grows with the rows already stored
    rows_per_s_by_fifth: list[float | None]
    accepted: int
    merged: int
    rejected: int
    events: dict[str, int]
    events_complete: bool


async def _stream(csv: CsvFile, advance: Callable[[int], None]) -> AsyncIterator[bytes]:
    for chunk in csv.chunks:
        yield chunk
        advance(len(chunk))


async def upload(
    http: httpx.AsyncClient, tenant: Tenant, csv: CsvFile, advance: Callable[[int], None]
) -> str:
    r = await http.post(
        "/v1/leads/bulk",
        params={"mapping": json.dumps(CSV_MAPPING)},
        content=_stream(csv, advance),
        headers={"X-Api-Key": tenant.api_key, "Content-Type": "text/csv"},
    )
    if r.status_code != 202:
        raise RuntimeError(f"bulk upload answered {r.status_code}: {r.text[:500]}")
    return str(r.json()["job_id"])


async def wait_job(
    http: httpx.AsyncClient,
    tenant: Tenant,
    job_id: str,
    probe: Probe,
    seen: Seen,
    on_rows: Callable[[int], None],
    wait_s: float,
    progress: list[tuple[float, int]],
) -> dict[str, Any]:
    """Poll the job every 0.2 s until it is done or failed, noting (time, rows done) in
    `progress`; drain the probe meanwhile."""
    deadline = time.monotonic() + wait_s
    while True:
        r = await http.get(f"/v1/leads/bulk/{job_id}", headers={"X-Api-Key": tenant.api_key})
        r.raise_for_status()
        job: dict[str, Any] = r.json()
        progress.append((time.monotonic(), int(job["rows_done"])))
        on_rows(int(job["rows_done"]))
        if job["status"] in ("done", "failed"):
            return job
        if time.monotonic() > deadline:
            raise TimeoutError(f"bulk job {job_id} still {job['status']} after {wait_s}s")
        seen.add(await probe.drain(), tenant.name)
        await asyncio.sleep(0.2)


async def run(
    base_url: str,
    tenant: Tenant,
    probe: Probe,
    csv: CsvFile,
    *,
    on_bytes: Callable[[int], None],
    on_rows: Callable[[int], None],
    on_events: Callable[[Seen], None],
    wait_s: float,
) -> BulkResult:
    seen = Seen()
    progress: list[tuple[float, int]] = []
    async with httpx.AsyncClient(base_url=base_url, timeout=wait_s) as http:
        started = time.monotonic()
        job_id = await upload(http, tenant, csv, on_bytes)
        uploaded = time.monotonic()
        job = await wait_job(http, tenant, job_id, probe, seen, on_rows, wait_s, progress)
        done = time.monotonic()
    seen, complete = await collect(
        probe,
        lambda s: (
            s.count("lead.ingested") >= job["accepted"]
            and s.count("lead.duplicate") >= job["merged"]
        ),
        tenant=tenant.name,
        seen=seen,
        wait_s=wait_s,
        poll=0.2,
        on_progress=on_events,
    )
    last = seen.last - started if seen.last else None
    return BulkResult(
        rows=csv.rows,
        duplicates_generated=csv.duplicates,
        megabytes=round(csv.size / 1e6, 1),
        status=job["status"],
        error=job["error"],
        upload_s=round(uploaded - started, 2),
        job_done_s=round(done - started, 2),
        last_event_s=round(last, 2) if last else None,
        rows_per_s_job=round(csv.rows / (done - started), 1),
        rows_per_s_events=round(csv.rows / last, 1) if last else None,
        rows_per_s_by_fifth=by_fifth(progress, uploaded, csv.rows),
        accepted=job["accepted"],
        merged=job["merged"],
        rejected=job["rejected"],
        events={t: seen.count(t) for t in EVENTS},
        events_complete=complete,
    )
