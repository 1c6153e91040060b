"""The Celery app is configured from Django settings."""

from django.conf import settings

from workers import app


def test_celery_reads_the_django_settings():
    assert app.conf.broker_url == settings.CELERY_BROKER_URL
    assert app.conf.task_always_eager is settings.CELERY_TASK_ALWAYS_EAGER
    assert app.conf.task_acks_late is True
    assert app.conf.timezone == "UTC"
