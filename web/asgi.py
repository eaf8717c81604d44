"""The ASGI entry for process managers and multi-worker uvicorn: settings from FABLAB_* variables."""

from __future__ import annotations

from fastapi import FastAPI

from web.app import create_app
from web.settings import Settings


def app_from_env() -> FastAPI:
    """A fresh app for one worker process (uvicorn --factory web.asgi:app_from_env)."""
    return create_app(Settings())
