"""The production worker (shop.serve.UvicornWorker): its garbage-collector tuning
and its WebSockets without per-message compression (the handshake itself is
checked against a real gunicorn in tests/e2e/test_production_server.py)."""

import gc

import pytest
from uvicorn_worker import UvicornWorker as BaseWorker

from shop import serve


@pytest.fixture
def restored_gc():
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_tune_gc_freezes_what_is_loaded_and_makes_collections_rarer(restored_gc):
    gc.unfreeze()
    assert gc.get_freeze_count() == 0

    serve.tune_gc()

    assert gc.get_threshold() == serve.GC_THRESHOLDS
    # What was loaded (every object alive now) is out of the collector's sight.
    assert gc.get_freeze_count() > 1000
    assert gc.get_count()[2] == 0


def test_the_worker_tunes_gc_once_the_application_is_loaded(monkeypatch):
    calls = []
    monkeypatch.setattr(BaseWorker, "load_wsgi", lambda self: calls.append("load"))
    monkeypatch.setattr(serve, "tune_gc", lambda: calls.append("tune"))

    serve.UvicornWorker.load_wsgi(object.__new__(serve.UvicornWorker))

    assert calls == ["load", "tune"]
