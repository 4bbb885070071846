"""The HTTP API (`/api/v1`) and the dashboard, as one FastAPI application.

Every route calls the same service as the CLI (`reconciler.reconcile.service.Service`), so a
browser, a script and a terminal see and steer the same desired state. Routes live in routers
(`projects`, `sessions`, `events`); `deps` opens and closes one service per request and checks the
bearer token; `errors` turns service errors into one shape:
`{"error": {"code": "SESSION_NOT_FOUND", "message": "..."}}`.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from .. import __version__
from ..paths import DataDir
from ..reconcile.health import read as controller_health
from ..reconcile.service import Service
from . import auth, errors, events, projects, sessions
from .deps import UNAUTHORIZED
from .errors import error_body
from .models import Health

API = "/api/v1"

meta = APIRouter(tags=["meta"])


@meta.get("/healthz", response_model=Health, responses={503: {"model": Health}})
def healthz(request: Request) -> JSONResponse:
    """ok, unless a controller runs from this data dir and its last passes failed (then 503)."""
    controller = controller_health(request.app.state.data_dir)  # None: no controller runs here
    ok = controller is None or controller["healthy"]
    return JSONResponse({"ok": ok, "version": __version__, "controller": controller}, status_code=200 if ok else 503)


def create_app(data_dir: DataDir, token: str, *, make_ao: Callable[[], Service] | None = None) -> FastAPI:
    """The application; `make_ao` builds one service object per request (a registry connection each)."""
    app = FastAPI(title="ao", version=__version__, openapi_url=f"{API}/openapi.json", docs_url=f"{API}/docs",
                  redoc_url=None, description="Declarative fleet manager for AI coding agents.")
    app.state.data_dir = data_dir
    app.state.new_service = make_ao or (lambda: Service(data_dir, on_wait=lambda _: None))
    app.state.token = token
    app.state.codes = auth.OneTimeCodes()
    app.state.redeem = app.state.codes.redeem
    errors.install(app)

    # API routes check the token with a dependency (the `HTTPBearer` scheme of the OpenAPI document);
    # this guards the rest: the OpenAPI document itself and the dashboard, which answers with its login page.
    guarded_api = (f"{API}/openapi.json", f"{API}/docs")

    @app.middleware("http")
    async def _require_token(request: Request, call_next):  # type: ignore[no-untyped-def]
        path = request.url.path
        # The cookie is sent whichever site made the browser send the request: a write that relies on it
        # must come from our own pages (cross-site request forgery, even from another port of localhost).
        if auth.COOKIE in request.cookies and auth.forgeable(request.method, request.headers) \
                and not auth.same_origin(request.headers):
            return JSONResponse(error_body("CROSS_ORIGIN", auth.CROSS_ORIGIN), status_code=403)
        if (path.startswith(API) and path not in guarded_api) or path == "/login" or path.startswith("/static"):
            return await call_next(request)
        if auth.valid(token, request.headers.get("authorization"), request.cookies.get(auth.COOKIE)):
            return await call_next(request)
        if path.startswith(API):
            return JSONResponse(error_body("UNAUTHORIZED", UNAUTHORIZED), status_code=401)
        from .dashboard import login_page

        return login_page()

    for router in (meta, projects.router, sessions.router, events.router):
        app.include_router(router, prefix=API)

    from . import dashboard

    dashboard.register(app, token)
    return app
