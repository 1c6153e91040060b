from django.apps import AppConfig


class WorkersConfig(AppConfig):
    """Loads the Celery app and its tasks in every Django process, so shop code can
    enqueue tasks by name (and run them eagerly in embedded mode)."""

    name = "workers"
    verbose_name = "Workers"

    def ready(self) -> None:
        import workers.tasks.cdn  # noqa: F401  (registers the tasks)
        import workers.tasks.discounts  # noqa: F401
        import workers.tasks.media  # noqa: F401
        import workers.tasks.orders  # noqa: F401
        import workers.tasks.payments  # noqa: F401
