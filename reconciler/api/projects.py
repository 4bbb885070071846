"""Routes under /api/v1/projects: apply (PUT a manifest), read, delete and reconcile projects."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from ..manifest.loader import LoadedProject, ManifestIssue, decode, load_text
from ..manifest.preflight import project_issues
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


def parse_one(body: bytes, name: str, base: Path) -> tuple[list[LoadedProject], list[ManifestIssue]]:
    """The one Project document of a PUT body, checked like `ao apply` checks a file (UTF-8 included)."""
    source = f"<api:{name}>"
    text, problem = decode(body, source)
    if problem is not None or text is None:
        return [], [problem or ManifestIssue(source, 0, 0, "", "cannot read the body")]
    loaded, issues = load_text(text, source, base)
    if not issues and len(loaded) != 1:
        issues = [ManifestIssue(source, 0, 0, "", "expected exactly one Project document")]
    if not issues and loaded[0].name != name:
        issues = [loaded[0].issue(("metadata", "name"), f"expected {name!r} (the name in the URL)")]
    if not issues and not Path(loaded[0].manifest.spec.repo).expanduser().is_absolute():
        # A body has no folder that a relative path could be relative to (a file has: its own).
        issues = [loaded[0].issue(("spec", "repo"), "expected an absolute path: a manifest sent to the API has "
                                                    f"no folder to resolve {loaded[0].manifest.spec.repo!r} against")]
    if not issues:
        issues = project_issues(loaded[0])  # the repo exists, is git, has a commit; the runtime is there
    return loaded, issues


@router.put("/{name}", openapi_extra=PROJECT_BODY, response_model=ApplyResult,
            responses={201: {"model": ApplyResult, "description": "Created"}})
async def put_project(name: ProjectName, request: Request, ao: ServiceDep) -> JSONResponse:
    """Apply one manifest document (JSON or YAML); the same validation and errors as `ao apply`."""
    # Parsing is CPU work on untrusted text: off the event loop, so one request never stalls the others.
    loaded, issues = await asyncio.to_thread(parse_one, await request.body(), name, request.app.state.data_dir.root)
    if issues:
        return JSONResponse(error_body("MANIFEST_INVALID", "\n".join(map(str, issues)),
                                       issues=[vars(i) for i in issues]), status_code=422)
    report = await asyncio.to_thread(ao.apply, loaded)
    return JSONResponse(apply_body(report), status_code=201 if report.projects[0].status == "created" else 200)


@router.delete("/{name}", response_model=ApplyResult, dependencies=[PROJECT_NOT_FOUND])
def delete_project(name: ProjectName, ao: ServiceDep) -> dict:
    return apply_body(ao.delete_projects([name]))


@router.post("/{name}/reconcile", response_model=PassResult)
def reconcile_project(name: ProjectName, ao: ServiceDep) -> dict:
    record = ao.project(name)
    if record is None or record.deleted:
        raise ApiError(404, "PROJECT_NOT_FOUND", f"no project {name!r}")
    return pass_body(ao.reconcile([name]))
