"""The web worker's settings (workflow/gunicorn_conf.py) that code can check."""

import gc

from workflow.gunicorn_conf import post_worker_init


def test_a_loaded_worker_freezes_the_app_out_of_the_collectors_passes(app):
    assert gc.get_freeze_count() == 0
    try:
        post_worker_init(None)
        frozen = gc.get_freeze_count()
        # The app's modules, models and templates: what a full pass no longer walks.
        assert frozen > 50_000
        assert len(gc.get_objects()) < frozen / 10
    finally:
        gc.unfreeze()
    assert gc.get_freeze_count() == 0
