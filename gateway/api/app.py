"""The FastAPI application."""

from fastapi import FastAPI

from gateway.api import fhir, health, ops, recommendations
from gateway.api.problems import BodySizeLimit, install_problem_handlers
from gateway.settings import Settings, get_settings
from gateway.store.database import make_engine, make_session_factory


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="Liaison",
        version="0.1.0",
        description=(
            "Turns a mental-health practitioner's stop-smoking medicine recommendation into "
            "FHIR R4 requests to the service user's GP practice, follows them until the "
            "prescription is ready to collect, and tells the practitioner and service user."
        ),
    )
    engine = make_engine(settings.database_url)
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = make_session_factory(engine)
    install_problem_handlers(app)
    app.include_router(health.router)
    app.include_router(recommendations.router)
    app.include_router(fhir.router)
    app.include_router(ops.router)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    return app
