"""Operators' calls, kept apart from the agent's client: `AdminClient` (needs an admin key)."""

from __future__ import annotations

import time
from datetime import date
from typing import IO, Any, Literal
from uuid import UUID

import httpx

from peerguard_client import models as m
from peerguard_client._core import Page, adapter_for, build_call, decode
from peerguard_client.client import SyncBase


class AdminClient(SyncBase):
    """Flags, rollback, the validator pool, alerts, the review queue, dashboards.

        admin = AdminClient("http://127.0.0.1:8000", api_key="pgk_admin_...")
    """

    def flags(self) -> list[m.FlagOut]:
        return self._data(build_call("GET", "/v1/admin/flags"), list[m.FlagOut])  # type: ignore[arg-type]

    def flag(self, name: str) -> m.FlagDetail:
        return self._data(build_call("GET", "/v1/admin/flags/{name}", path_params={"name": name}), m.FlagDetail)

    def set_flag(self, name: str, value: Any, *, reason: str, force: bool = False) -> m.FlagWritten:
        body = m.SetFlag(value=value, reason=reason, force=force)
        call = build_call("PUT", "/v1/admin/flags/{name}", path_params={"name": name}, body=body)
        return self._data(call, m.FlagWritten)

    def rollback(self, reason: str) -> m.RollbackOut:
        return self._data(build_call("POST", "/v1/admin/rollback", body=m.RollbackBody(reason=reason)),
                          m.RollbackOut)

    def backfill_validators(self) -> m.BackfillOut:
        return self._data(build_call("POST", "/v1/admin/validators/backfill"), m.BackfillOut)

    def validators(self, *, cursor: str | None = None, limit: int = 20) -> Page[m.ValidatorRow]:
        call = build_call("GET", "/v1/admin/validators", params={"cursor": cursor, "limit": limit})
        return self._page(call, m.ValidatorRow)

    def agent_compliance(self, agent_id: UUID | str) -> m.ComplianceOut:
        call = build_call("GET", "/v1/admin/agents/{id}/compliance", path_params={"id": agent_id})
        return self._data(call, m.ComplianceOut)

    def dashboard(self, *, hours: int | None = None) -> m.DashboardOut:
        return self._data(build_call("GET", "/v1/admin/dashboard", params={"hours": hours}), m.DashboardOut)

    def decision_gates(self) -> m.DecisionGates:
        return self._data(build_call("GET", "/v1/admin/decision-gates"), m.DecisionGates)

    def economy(self) -> m.EconomyOut:
        return self._data(build_call("GET", "/v1/admin/economy"), m.EconomyOut)

    def alerts(self, *, status: str | None = None, cursor: str | None = None,
               limit: int = 20) -> Page[m.AlertOut]:
        call = build_call("GET", "/v1/admin/alerts", params={"status": status, "cursor": cursor, "limit": limit})
        return self._page(call, m.AlertOut)

    def ack_alert(self, alert_id: UUID | str, *, note: str | None = None) -> m.AlertOut:
        call = build_call("POST", "/v1/admin/alerts/{id}/ack", path_params={"id": alert_id},
                          body=m.AckBody(note=note))
        return self._data(call, m.AlertOut)

    def reviews(self, *, status: str | None = None, cursor: str | None = None,
                limit: int = 20) -> Page[m.ReviewItemOut]:
        call = build_call("GET", "/v1/admin/reviews", params={"status": status, "cursor": cursor, "limit": limit})
        return self._page(call, m.ReviewItemOut)

    # --- partner deliveries -------------------------------------------------------------------------

    def create_delivery_schedule(self, schedule: m.ScheduleBody) -> m.ScheduleCreated:
        """A new schedule; the answer carries its signing secret, shown once."""
        call = build_call("POST", "/v1/admin/deliveries/schedules", body=schedule)
        return self._data(call, m.ScheduleCreated)

    def delivery_schedules(self, *, cursor: str | None = None, limit: int = 20) -> Page[m.ScheduleOut]:
        call = build_call("GET", "/v1/admin/deliveries/schedules", params={"cursor": cursor, "limit": limit})
        return self._page(call, m.ScheduleOut)

    def delivery_schedule(self, schedule_id: UUID | str) -> m.ScheduleOut:
        call = build_call("GET", "/v1/admin/deliveries/schedules/{id}", path_params={"id": schedule_id})
        return self._data(call, m.ScheduleOut)

    def update_delivery_schedule(self, schedule_id: UUID | str, schedule: m.ScheduleBody) -> m.ScheduleOut:
        call = build_call("PUT", "/v1/admin/deliveries/schedules/{id}", path_params={"id": schedule_id},
                          body=schedule)
        return self._data(call, m.ScheduleOut)

    def delete_delivery_schedule(self, schedule_id: UUID | str) -> None:
        self._send(build_call("DELETE", "/v1/admin/deliveries/schedules/{id}", path_params={"id": schedule_id}))

    def preview_delivery(self, schedule_id: UUID | str) -> m.PreviewOut:
        call = build_call("GET", "/v1/admin/deliveries/schedules/{id}/preview", path_params={"id": schedule_id})
        return self._data(call, m.PreviewOut)

    def run_delivery_now(self, schedule_id: UUID | str) -> m.RunOut:
        call = build_call("POST", "/v1/admin/deliveries/schedules/{id}/run-now", path_params={"id": schedule_id})
        return self._data(call, m.RunOut)

    def delivery_runs(self, schedule_id: UUID | str, *, cursor: str | None = None,
                      limit: int = 20) -> Page[m.RunOut]:
        call = build_call("GET", "/v1/admin/deliveries/schedules/{id}/runs", path_params={"id": schedule_id},
                          params={"cursor": cursor, "limit": limit})
        return self._page(call, m.RunOut)

    def delivery_stats(self, *, days: int = 30) -> m.DeliveryStats:
        return self._data(build_call("GET", "/v1/admin/deliveries/stats", params={"days": days}), m.DeliveryStats)

    # --- trends and exports -------------------------------------------------------------------------

    def trends(self, start: date, end: date, *, metric: str | None = None) -> m.TrendsOut:
        """Daily figures of the days [start, end] (at most 366)."""
        call = build_call("GET", "/v1/admin/trends",
                          params={"from": start.isoformat(), "to": end.isoformat(), "metric": metric})
        return self._data(call, m.TrendsOut)

    def aggregate_trends(self, day: date) -> m.AggregateOut:
        """Aggregate one finished day again now (its figures are replaced)."""
        return self._data(build_call("POST", "/v1/admin/trends/aggregate", params={"day": day.isoformat()}),
                          m.AggregateOut)

    def export(self, kind: Literal["decisions", "trends", "compliance", "ledger"], start: date, end: date,
               out: IO[bytes], *, format: Literal["csv", "json"] = "csv", wait_s: float = 1800,
               link_transport: httpx.BaseTransport | None = None) -> int:
        """Write the export to ``out`` as it arrives (streamed, or fetched from its link when the
        server stored it; an export the server turned into a job is waited for, up to ``wait_s``,
        then downloaded); the number of bytes written. Errors are the typed API errors."""
        params = {"from": start.isoformat(), "to": end.isoformat(), "format": format}
        headers = self._config.headers(build_call("GET", "/v1/admin/exports/{kind}", path_params={"kind": kind}))
        with self._http.stream("GET", f"/v1/admin/exports/{kind}", params=params, headers=headers) as response:
            if response.status_code == 202:
                response.read()
                job, _ = decode(response, adapter_for(m.ExportJobOut))
            elif response.status_code != 200 or "content-disposition" not in response.headers:
                response.read()
                link, _ = decode(response, adapter_for(m.ExportLinkOut))
                with httpx.Client(timeout=self._config.timeout, transport=link_transport) as http, \
                        http.stream("GET", link.url) as stored:
                    stored.raise_for_status()
                    return _copy(stored, out)
            else:
                return _copy(response, out)
        self.wait_export_job(job.id, timeout_s=wait_s)
        return self.download_export_job(job.id, out, link_transport=link_transport)

    def start_export_job(self, kind: Literal["decisions", "trends", "compliance", "ledger"], start: date,
                         end: date, *, format: Literal["csv", "json"] = "csv") -> m.ExportJobOut:
        """Queue an export job (any size); follow it with ``export_job`` or ``wait_export_job``. At
        most two unfinished jobs per admin key: a third is RateLimited."""
        body = m.NewExportJob(kind=kind, from_=start, to=end, format=format)
        return self._data(build_call("POST", "/v1/admin/exports/jobs", body=body), m.ExportJobOut)

    def export_job(self, job_id: UUID | str) -> m.ExportJobOut:
        """The job's status and progress (0-100)."""
        return self._data(build_call("GET", "/v1/admin/exports/jobs/{id}", path_params={"id": job_id}),
                          m.ExportJobOut)

    def wait_export_job(self, job_id: UUID | str, *, timeout_s: float = 1800,
                        interval_s: float = 2.0) -> m.ExportJobOut:
        """Poll until the job has succeeded (returned) or failed (ExportJobFailed); TimeoutError after
        ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while True:
            job = self.export_job(job_id)
            if job.status == "succeeded":
                return job
            if job.status == "failed":
                raise ExportJobFailed(f"export job {job_id} failed: {job.error}")
            if time.monotonic() >= deadline:
                raise TimeoutError(f"export job {job_id} is still {job.status} ({job.progress} %)")
            self._sleep(interval_s)

    def export_job_link(self, job_id: UUID | str) -> m.ExportJobDownloadOut:
        """A link to the finished file, valid for a few minutes."""
        call = build_call("GET", "/v1/admin/exports/jobs/{id}/download", path_params={"id": job_id})
        return self._data(call, m.ExportJobDownloadOut)

    def download_export_job(self, job_id: UUID | str, out: IO[bytes], *,
                            link_transport: httpx.BaseTransport | None = None) -> int:
        """Write a finished job's file to ``out``; the number of bytes written. The link is fetched at
        once: a presigned S3 GET without the API key, or (local mode) the API's own file route with
        it. ``link_transport`` replaces the network for links outside the API (tests)."""
        link = self.export_job_link(job_id)
        if link.url.startswith(self._config.base_url):
            path = link.url[len(self._config.base_url):]
            call = build_call("GET", "/v1/admin/exports/jobs/{id}/file", path_params={"id": job_id})
            with self._http.stream("GET", path, headers=self._config.headers(call)) as response:
                if response.status_code != 200:
                    response.read()
                    decode(response, adapter_for(m.ExportJobDownloadOut))  # raises the typed error
                return _copy(response, out)
        with httpx.Client(timeout=self._config.timeout, transport=link_transport) as http, \
                http.stream("GET", link.url) as stored:
            stored.raise_for_status()
            return _copy(stored, out)


class ExportJobFailed(RuntimeError):
    """The export job failed for good (its error is in the message)."""


def _copy(response: httpx.Response, out: IO[bytes]) -> int:
    written = 0
    for chunk in response.iter_bytes():
        out.write(chunk)
        written += len(chunk)
    return written
