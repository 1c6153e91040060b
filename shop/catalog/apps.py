from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "shop.catalog"
    label = "catalog"
    verbose_name = "Catalog"

    def ready(self) -> None:
        # Every write to the catalog's tables changes the catalog version on
        # commit (the key of cached catalog answers): see shop.catalog.cache_version.
        from shop.catalog.cache_version import watch_catalog_writes

        watch_catalog_writes()
