from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "shop.catalog"
    label = "catalog"
    verbose_name = "Catalog"

    def ready(self) -> None:
        # Cached catalog answers record the tags of the rows they read, and every
        # write to the catalog's tables sends the tags it changed to Redis on
        # commit: see shop.catalog.cache_tags.
        from shop.catalog.cache_tags import install_row_tags, watch_catalog_writes

        install_row_tags()
        watch_catalog_writes()
        # Pillow refuses images over the pixel cap when it opens them, whatever
        # opens them (shop.catalog.media): set once, process-wide.
        from shop.catalog.media import pillow_configure

        pillow_configure()
