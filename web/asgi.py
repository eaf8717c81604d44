"""The ASGI entry for process managers and multi-worker uvicorn: settings from FABLAB_* variables."""

from __future__ import annotations

import logging

from fastapi import FastAPI

from web import process
from web.app import create_app
from web.settings import Settings


def app_from_env() -> FastAPI:
    """A fresh app for one worker process (uvicorn --factory web.asgi:app_from_env), logging as
    `fablab serve` does, at FABLAB_LOG_LEVEL."""
    settings = Settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(settings)
    process.settle()
    return app
