"""The Celery app, built from the Flask app: ``celery -A worker worker --beat``."""

from __future__ import annotations

from celery import Celery

from workflow import create_app

flask_app = create_app()
app: Celery = flask_app.extensions["celery"]

from worker import steps, tasks  # noqa: E402  (registers the tasks on ``app``)

app.steps["consumer"].add(steps.OutboxSweeps)

__all__ = ["app", "flask_app", "tasks"]
