"""Routes under /api/v1/projects: apply (PUT a manifest), read, delete and reconcile projects."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from ..manifest.loader import ManifestIssue, load_text
from ..manifest.schema import project_schema
from ..reconcile.service import ApplyReport, PassReport
from ..views import project_view, session_rows, session_view
from .deps import PROJECT_NOT_FOUND, ProjectName, ServiceDep, require_token
from .errors import ApiError, error_body
from .models import ApplyResult, PassResult, ProjectView

router = APIRouter(prefix="/projects", tags=["projects"], dependencies=[Depends(require_token)])

PROJECT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": project_schema()},
            "application/yaml": {"schema": {"type": "string"}},
        },
    }
}


def pass_body(report: PassReport) -> dict:
    return {"ok": report.ok, "sessions": session_rows(report)}


def apply_body(report: ApplyReport) -> dict:
    return {"projects": [{"name": p.name, "status": p.status} for p in report.projects],
            **pass_body(report.reconcile)}


@router.get("", response_model=list[ProjectView])
def list_projects(ao: ServiceDep) -> list[dict]:
    observed = ao.observe()
    return [project_view(p, ao.sessions(p.name), observed, ao.declared(p)) for p in ao.projects()]


@router.get("/{name}", response_model=ProjectView)
def get_project(name: ProjectName, ao: ServiceDep) -> dict:
    record = ao.project(name)
    if record is None or record.deleted:
        raise ApiError(404, "PROJECT_NOT_FOUND", f"no project {name!r}")
    observed = ao.observe()
    view = project_view(record, ao.sessions(name), observed, ao.declared(record))
    activity, rss = ao.activity(), ao.memory_usage(observed)
    view["sessions"] = [session_view(s, observed.get(s.id), activity.get(s.id), rss.get(s.id))
                        for s in ao.sessions(name)]
    return view


@router.put("/{name}", openapi_extra=PROJECT_BODY, response_model=ApplyResult,
            responses={201: {"model": ApplyResult, "description": "Created"}})
async def put_project(name: str, request: Request, ao: ServiceDep) -> JSONResponse:
    """Apply one manifest document (JSON or YAML); the same validation and errors as `ao apply`."""
    text = (await request.body()).decode("utf-8", errors="replace")
    loaded, issues = load_text(text, f"<api:{name}>", request.app.state.data_dir.root)
    if not issues and len(loaded) != 1:
        issues = [ManifestIssue(f"<api:{name}>", 0, 0, "", "expected exactly one Project document")]
    if not issues and loaded[0].name != name:
        issues = [loaded[0].issue(("metadata", "name"), f"expected {name!r} (the name in the URL)")]
    if issues:
        return JSONResponse(error_body("MANIFEST_INVALID", "\n".join(map(str, issues)),
                                       issues=[vars(i) for i in issues]), status_code=422)
    report = await asyncio.to_thread(ao.apply, loaded)
    return JSONResponse(apply_body(report), status_code=201 if report.projects[0].status == "created" else 200)


@router.delete("/{name}", response_model=ApplyResult, dependencies=[PROJECT_NOT_FOUND])
def delete_project(name: str, ao: ServiceDep) -> dict:
    return apply_body(ao.delete_projects([name]))


@router.post("/{name}/reconcile", response_model=PassResult)
def reconcile_project(name: str, ao: ServiceDep) -> dict:
    record = ao.project(name)
    if record is None or record.deleted:
        raise ApiError(404, "PROJECT_NOT_FOUND", f"no project {name!r}")
    return pass_body(ao.reconcile([name]))
