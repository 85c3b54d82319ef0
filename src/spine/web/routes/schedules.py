"""Schedules: the list (page ``/schedules``, ``GET /api/schedules``) and one schedule
with what became of its due times (page and API under ``/schedules/{name}``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse

from spine.commands import list_schedules, show_schedule
from spine.core.errors import ScheduleError
from spine.web.dependencies import PAGE_SIZE, Store, render

router = APIRouter()


@router.get("/api/schedules", tags=["schedules"])
def api_schedules(store: Store) -> list[dict[str, Any]]:
    """Every schedule, by name, with its next fire time in UTC and in its time zone."""
    return [s.to_dict() for s in list_schedules(store)]


@router.get("/api/schedules/{name:path}", tags=["schedules"])
def api_schedule(
    store: Store, name: str, limit: int = Query(PAGE_SIZE, ge=1, le=1000)
) -> dict[str, Any]:
    """One schedule and what became of its latest ``limit`` due times, newest first."""
    try:
        return show_schedule(store, name, limit).to_dict()
    except ScheduleError as exc:
        raise HTTPException(404, str(exc)) from exc


@router.get("/schedules", response_class=HTMLResponse, include_in_schema=False)
def schedules_page(request: Request, store: Store) -> HTMLResponse:
    return render(request, "schedules.html", {"schedules": api_schedules(store)})


@router.get("/schedules/{name:path}", response_class=HTMLResponse, include_in_schema=False)
def schedule_page(request: Request, store: Store, name: str) -> HTMLResponse:
    detail = api_schedule(store, name, PAGE_SIZE)
    return render(request, "schedule.html", {"schedule": detail, "history": detail["history"]})
