"""Celery tasks, one module per domain; each loads by id and calls a shop service."""
