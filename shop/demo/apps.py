from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Demo and benchmark data, above the domain apps (it uses them all; none of
    them uses it): manage.py seed_demo and seed_catalog."""

    name = "shop.demo"
    label = "demo"
    verbose_name = "Demo data"
