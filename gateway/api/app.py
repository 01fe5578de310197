"""The FastAPI application."""

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from gateway.api import health, oauth
from gateway.api.fhir import audit_events
from gateway.api.fhir import resources as fhir
from gateway.api.middleware import install_middleware
from gateway.api.middleware.headers import DOCS_ASSETS
from gateway.api.ops import deliveries as ops
from gateway.api.ops import metrics, practice_stats, practices
from gateway.api.problems import BodySizeLimit, install_problem_handlers
from gateway.api.v1 import (
    appointments,
    callbacks,
    preferences,
    recommendations,
    reengagement,
    reminders,
    webhooks,
)
from gateway.api.web import console, inbox
from gateway.services.booking import Booking
from gateway.settings import Settings, get_settings
from gateway.store.database import make_engine, make_session_factory


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    # /docs and /redoc with Swagger UI's and ReDoc's files served from the installed package,
    # not a CDN: NHS networks often block CDNs, and a development machine may be offline.
    app = FastAPIOffline(
        static_url=DOCS_ASSETS,
        # Swagger UI's online validator badge would load from validator.swagger.io.
        swagger_ui_parameters={"validatorUrl": None},
        title="Liaison",
        version="0.1.0",
        description=(
            "Turns a mental-health practitioner's stop-smoking medicine recommendation into "
            "FHIR R4 requests to the service user's GP practice, follows them until the "
            "prescription is ready to collect, and tells the practitioner and service user."
        ),
    )
    engine = make_engine(settings.database.url)
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = make_session_factory(engine)
    app.state.booking = Booking(settings)
    install_problem_handlers(app)
    app.include_router(health.router)
    app.include_router(recommendations.router)
    app.include_router(appointments.router)
    app.include_router(reminders.router)
    app.include_router(oauth.router)
    # Before fhir.router, whose /fhir/{resource_type} would otherwise catch AuditEvent.
    app.include_router(audit_events.router)
    app.include_router(fhir.router)
    app.include_router(ops.router)
    app.include_router(reengagement.router)
    app.include_router(preferences.router)
    app.include_router(webhooks.router)
    app.include_router(practice_stats.router)
    # GP adapters: the practice directory, signed callbacks, the practice inbox.
    app.include_router(practices.router)
    app.include_router(callbacks.router)
    app.include_router(inbox.router)
    # Integration engineers: /metrics and the /console pages.
    app.include_router(metrics.router)
    console.install(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.api.max_body_bytes)
    install_middleware(app, settings)  # last: its middlewares wrap the others
    return app
