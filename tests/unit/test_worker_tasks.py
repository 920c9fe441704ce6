"""Every task the worker knows stops softly before it is killed, and well before the
broker would hand it to another worker."""

from workflow.config import celery_settings


def test_every_task_has_a_soft_limit_below_its_hard_limit(tmp_path, monkeypatch):
    monkeypatch.setenv("KJFLOW_INSTANCE", str(tmp_path))
    import worker

    app = worker.app
    ours = {name: task for name, task in app.tasks.items() if name.startswith("kjflow.")}
    assert {"kjflow.relay_outbox", "kjflow.consume_events", "kjflow.sweep_outbox",
            "kjflow.close_due_calls", "kjflow.expire_review_invitations"} <= set(ours)
    default_hard = app.conf.task_time_limit
    default_soft = app.conf.task_soft_time_limit
    visibility = celery_settings(tmp_path).get("broker_transport_options", {}).get(
        "visibility_timeout", 3600)
    for name, task in ours.items():
        hard = task.time_limit or default_hard
        soft = task.soft_time_limit or default_soft
        assert soft is not None and hard is not None, name
        assert soft < hard < visibility, (name, soft, hard)


def test_every_beat_entry_names_a_registered_task(tmp_path, monkeypatch):
    monkeypatch.setenv("KJFLOW_INSTANCE", str(tmp_path))
    import worker

    for entry in worker.app.conf.beat_schedule.values():
        assert entry["task"] in worker.app.tasks, entry


def test_tasks_ack_late_and_go_back_to_the_queue_when_their_worker_dies(tmp_path, monkeypatch):
    import pytest

    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:6379/15")
    settings = celery_settings(tmp_path)
    assert settings["task_acks_late"] and settings["task_reject_on_worker_lost"]
    assert settings["task_time_limit"] < settings["broker_transport_options"][
        "visibility_timeout"]
    # Children are recycled, so a renderer's memory cannot grow without bound.
    assert settings["worker_max_tasks_per_child"] and settings["worker_max_memory_per_child"]
    monkeypatch.setenv("KJFLOW_VISIBILITY_TIMEOUT", "300")
    with pytest.raises(RuntimeError, match="must exceed"):
        celery_settings(tmp_path)
