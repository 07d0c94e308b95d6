"""POST /v1/leads/bulk: streamed CSV, per-row report, duplicates, resumable after a crash."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text

from tests.integration.intake.conftest import Intake
from tests.paths import OTHER_DIR, needs_fixtures

pytestmark = pytest.mark.integration


class Killed(BaseException):
    """A process dying mid-job: not an error the worker could catch and record."""


MAPPING = {
    "columns": {
        "first_name": "First",
        "last_name": "Last",
        "email": "E-mail",
        "phone": "Phone",
        "vehicle.make": "Make",
        "vehicle.model": "Model",
        "source_lead_id": "Id",
    }
}


async def _upload(intake: Intake, key: str, content: Any, mapping: dict[str, Any]) -> Any:
    return await intake.client.post(
        "/v1/leads/bulk",
        params={"mapping": json.dumps(mapping)},
        content=content,
        headers={"X-Api-Key": key, "Content-Type": "text/csv"},
    )


async def _finished(intake: Intake, key: str, job_id: str) -> dict[str, Any]:
    async with asyncio.timeout(60):
        while True:
            job = (
                await intake.client.get(f"/v1/leads/bulk/{job_id}", headers={"X-Api-Key": key})
            ).json()
            if job["status"] in ("done", "failed"):
                return dict(job)
            await asyncio.sleep(0.1)


async def _rows(intake: Intake, key: str, job_id: str, **params: Any) -> list[dict[str, Any]]:
    r = await intake.client.get(
        f"/v1/leads/bulk/{job_id}/rows", params=params, headers={"X-Api-Key": key}
    )
    assert r.status_code == 200, r.text
    return list(r.json())


def _csv(n: int, duplicates_every: int = 0) -> bytes:
    lines = ["Id,First,Last,E-mail,Phone,Make,Model"]
    for i in range(n):
        person = i - 1 if duplicates_every and i % duplicates_every == 0 and i else i
        lines.append(f"r{i},ann{person},roe,ann{person}@example.com,,Volvo,XC{i % 90}")
    return ("\n".join(lines) + "\n").encode()


async def test_streamed_upload_reports_every_row(intake: Intake) -> None:
    source = await intake.source("acme")
    data = _csv(1200, duplicates_every=4)
    data += b"r-bad,Bo,Poe,not-an-email,(000) 000-0000,Ford,Focus\n"

    async def stream() -> AsyncIterator[bytes]:
        for start in range(0, len(data), 777):  # chunks that cut rows in half
            yield data[start : start + 777]

    r = await _upload(intake, source["api_key"], stream(), MAPPING)
    assert r.status_code == 202, r.text
    job = await _finished(intake, source["api_key"], r.json()["job_id"])
    assert job["status"] == "done"
    assert (job["accepted"], job["merged"], job["rejected"]) == (901, 299, 1)
    rejected = await _rows(intake, source["api_key"], job["job_id"], outcome="rejected")
    assert [row["row_number"] for row in rejected] == [1202]
    assert rejected[0]["reason_code"] == "invalid.personal_data"
    assert {e["field"] for e in rejected[0]["errors"]} == {"email", "phone"}
    page = await _rows(intake, source["api_key"], job["job_id"], after=1, limit=5)
    assert [row["row_number"] for row in page] == [2, 3, 4, 5, 6]
    assert [row["outcome"] for row in page] == [
        "ingested",
        "ingested",
        "ingested",
        "ingested",
        "merged",
    ]
    assert page[4]["lead_id"] == page[3]["lead_id"]
    events = await intake.events.settle()
    kinds = Counter(e["event_type"] for e in events)
    assert (kinds["lead.ingested"], kinds["lead.duplicate"], kinds["lead.rejected"]) == (
        901,
        299,
        1,
    )
    # The same file again: every row carries the provider's id, so all are resends.
    again = await _upload(intake, source["api_key"], data, MAPPING)
    job2 = await _finished(intake, source["api_key"], again.json()["job_id"])
    assert (job2["accepted"], job2["merged"], job2["rejected"], job2["resent"]) == (0, 0, 0, 1201)
    rows2 = await _rows(intake, source["api_key"], job2["job_id"], limit=10)
    assert {row["outcome"] for row in rows2} == {"resent"}


async def test_rows_done_counts_the_data_rows_not_the_header(intake: Intake) -> None:
    source = await intake.source("acme")
    data = _csv(20).replace(b"\n", b"\n\n", 3)  # and blank lines, which are no rows either
    r = await _upload(intake, source["api_key"], data, MAPPING)
    job = await _finished(intake, source["api_key"], r.json()["job_id"])
    assert (job["status"], job["rows_done"], job["accepted"]) == ("done", 20, 20)


async def test_mapping_errors_are_4xx_naming_the_field(intake: Intake) -> None:
    source = await intake.source("acme")
    r = await _upload(intake, source["api_key"], b"a,b\n1,2\n", {"columns": {"email": "E-mail"}})
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "mapping.columns.email"
    r = await _upload(intake, source["api_key"], b"a\n", {"columns": {"shoe_size": "a"}})
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "mapping.columns.shoe_size"


@pytest.mark.parametrize("encoding", ["rot_13", "zlib_codec", "base64_codec", "hex_codec"])
async def test_an_encoding_that_is_not_a_text_encoding_is_422_naming_it(
    intake: Intake, encoding: str
) -> None:
    source = await intake.source("acme")
    mapping = {"columns": {"email": "E-mail"}, "encoding": encoding}
    r = await _upload(intake, source["api_key"], b"E-mail\na@example.com\n", mapping)
    assert r.status_code == 422, r.text
    [error] = r.json()["detail"]
    assert error["field"] == "mapping.encoding"
    assert "not a text encoding" in error["reason"]


@needs_fixtures
async def test_real_crm_exports_without_contacts_are_reported_not_lost(intake: Intake) -> None:
    source = await intake.source("acme")
    mapping = {
        "columns": {
            "channel": "Lead Source",
            "vehicle.year": "Year",
            "vehicle.make": "Make",
            "vehicle.model": "Model",
            "requested_at": "Lead Origination Date",
        }
    }
    data = (OTHER_DIR / "crm_desklog_vinsolutions_style_used_01.csv").read_bytes()
    rows_in_file = len(data.strip().splitlines()) - 1
    r = await _upload(intake, source["api_key"], data, mapping)
    job = await _finished(intake, source["api_key"], r.json()["job_id"])
    assert job["status"] == "done"
    assert job["rejected"] == rows_in_file
    rows = await _rows(intake, source["api_key"], job["job_id"], limit=10_000)
    assert len(rows) == rows_in_file
    assert {row["reason_code"] for row in rows} == {"invalid.personal_data"}


async def test_job_resumes_from_its_checkpoint_after_a_crash(intake: Intake) -> None:
    source = await intake.source("acme")
    jobs = intake.app.state.bulk
    jobs.stop()  # no worker: the upload is stored and waits
    batch = jobs._batch_size
    data = _csv(3 * batch)
    r = await _upload(intake, source["api_key"], data, MAPPING)
    job_id = r.json()["job_id"]
    # A worker took the first batch (rows 2..batch+1), committed it, then died.
    async with intake.app.state.engine.connect() as conn:
        chunks = (
            await conn.execute(
                text("SELECT count(*) FROM bulk_chunk WHERE job_id = :j"), {"j": job_id}
            )
        ).scalar_one()
    assert chunks >= 1
    original_commit = jobs._commit_batch
    calls = 0

    async def die_after_first_batch(*args: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise Killed  # the process dies: nothing of it runs on
        await original_commit(*args)

    jobs._commit_batch = die_after_first_batch
    with pytest.raises(Killed):
        await jobs.run_once()
    job = (
        await intake.client.get(
            f"/v1/leads/bulk/{job_id}", headers={"X-Api-Key": source["api_key"]}
        )
    ).json()
    assert (job["status"], job["rows_done"], job["accepted"]) == ("processing", batch, batch)
    jobs._commit_batch = original_commit
    assert await jobs.run_once()
    job = await _finished(intake, source["api_key"], job_id)
    assert (job["accepted"], job["merged"], job["rejected"]) == (3 * batch, 0, 0)
    assert job["rows_done"] == 3 * batch  # the resumed job counts each row once
    async with intake.app.state.engine.connect() as conn:
        leads = (await conn.execute(text("SELECT count(*) FROM lead"))).scalar_one()
    assert leads == 3 * batch


async def test_next_batch_is_judged_while_the_last_is_written_and_batches_commit_in_order(
    intake: Intake,
) -> None:
    source = await intake.source("acme")
    jobs = intake.app.state.bulk
    jobs.stop()  # no worker: this test runs the job itself
    jobs._batch_size = 4
    # Rows i=4 and i=8 repeat the person of the row before: across a batch boundary.
    r = await _upload(intake, source["api_key"], _csv(12, duplicates_every=4), MAPPING)
    job_id = r.json()["job_id"]
    batches = 3
    judging = [asyncio.Event() for _ in range(batches)]
    original_judge, original_commit = jobs._judge, jobs._commit_batch
    judged = committed = 0

    async def judge(*args: Any) -> Any:
        nonlocal judged
        judging[judged].set()
        judged += 1
        return await original_judge(*args)

    async def commit(*args: Any) -> None:
        nonlocal committed
        committed += 1
        if committed < batches:  # the next batch is read and judged before this one is written
            await asyncio.wait_for(judging[committed].wait(), 10)
        await original_commit(*args)

    jobs._judge, jobs._commit_batch = judge, commit
    assert await jobs.run_once()
    job = await _finished(intake, source["api_key"], job_id)
    assert (job["accepted"], job["merged"], job["rejected"]) == (10, 2, 0)
    rows = {row["row_number"]: row for row in await _rows(intake, source["api_key"], job_id)}
    # i=4 is row 6, the first of the second batch: merged into the lead of row 5 (i=3).
    assert rows[6]["outcome"] == "merged"
    assert rows[6]["lead_id"] == rows[5]["lead_id"]


async def test_upload_for_a_dealership_outside_the_tenant_is_404(intake: Intake) -> None:
    source = await intake.source("acme")
    other_tenants = await intake.dealership("globex")
    for dealership_id in (other_tenants, str(uuid.uuid4())):
        r = await intake.client.post(
            "/v1/leads/bulk",
            params={"mapping": json.dumps(MAPPING), "dealership_id": dealership_id},
            content=_csv(3),
            headers={"X-Api-Key": source["api_key"], "Content-Type": "text/csv"},
        )
        assert r.status_code == 404, r.text
    async with intake.app.state.engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM bulk_job"))).scalar_one() == 0


async def test_bad_rows_are_rejected_rows_and_the_job_finishes(intake: Intake) -> None:
    source = await intake.source("acme")
    other_tenants = await intake.dealership("globex")
    mapping = {"columns": {"email": "E-mail", "first_name": "First", "dealership_id": "Where"}}
    data = (
        "E-mail,First,Where\n"
        "a@example.com,Ann,\n"
        f"b@example.com,Bob,{other_tenants}\n"
        "c@example.com,Cat,not-a-uuid\n"
        "d@example.com,D\x00an,\n"
    ).encode()
    r = await _upload(intake, source["api_key"], data, mapping)
    assert r.status_code == 202, r.text
    job = await _finished(intake, source["api_key"], r.json()["job_id"])
    assert (job["status"], job["accepted"], job["rejected"]) == ("done", 2, 2)
    rows = {row["row_number"]: row for row in await _rows(intake, source["api_key"], job["job_id"])}
    assert [rows[n]["outcome"] for n in (2, 3, 4, 5)] == [
        "ingested",
        "rejected",
        "rejected",
        "ingested",
    ]
    assert rows[3]["errors"][0]["field"] == "dealership_id"
    assert rows[4]["errors"][0]["field"] == "dealership_id"
    async with intake.app.state.engine.connect() as conn:
        name = (
            await conn.execute(
                text("SELECT first_name FROM lead WHERE id = :id"), {"id": rows[5]["lead_id"]}
            )
        ).scalar_one()
    assert name == "Dan"


async def test_a_job_that_keeps_failing_is_failed_and_the_others_go_on(intake: Intake) -> None:
    jobs = intake.app.state.bulk
    jobs._max_attempts = 2
    original = jobs._commit_batch

    async def commit(job: Any, judged: Any) -> None:
        if job.tenant_id == "initech":
            raise RuntimeError("boom")
        await original(job, judged)

    jobs._commit_batch = commit
    failing = await intake.source("initech")
    fine = await intake.source("acme")
    first = await _upload(intake, failing["api_key"], _csv(5), MAPPING)
    second = await _upload(intake, fine["api_key"], _csv(5), MAPPING)
    done = await _finished(intake, fine["api_key"], second.json()["job_id"])
    assert (done["status"], done["accepted"]) == ("done", 5)
    failed = await _finished(intake, failing["api_key"], first.json()["job_id"])
    assert failed["status"] == "failed"
    assert failed["error"] == "gave up after 2 tries; last error: RuntimeError: boom"
    assert failed["accepted"] == 0
