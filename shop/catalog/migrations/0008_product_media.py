"""Product images (shop.catalog.media), and their cache triggers: a write to an
image or to the variants it shows drops the cached answers holding its product
(PostgreSQL only; see shop.catalog.cache_tags and migration 0005)."""

import django.db.models.deletion
from django.db import migrations, models

import shop.catalog.models

TABLES = {
    "catalog_productmedia": "'product-' || r.product_id",
    "catalog_productmedia_variants": (
        "'product-' || (SELECT m.product_id FROM catalog_productmedia m "
        "WHERE m.id = r.productmedia_id)"
    ),
}


def _function(table: str, tags: str) -> str:
    rows = (
        "SELECT DISTINCT t FROM {rows} r CROSS JOIN LATERAL unnest(ARRAY["
        + tags
        + "]) AS t"
    )
    return f"""
CREATE FUNCTION shop_cache_{table}() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM shop_cache_changed(ARRAY({rows.format(rows="new_rows")}));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM shop_cache_changed(ARRAY({rows.format(rows="old_rows")}));
    ELSE
        PERFORM shop_cache_changed(ARRAY({
        rows.format(rows="(SELECT * FROM old_rows UNION ALL SELECT * FROM new_rows)")
    }));
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER shop_cache_{table}_insert AFTER INSERT ON {table}
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION shop_cache_{table}();
CREATE TRIGGER shop_cache_{table}_update AFTER UPDATE ON {table}
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION shop_cache_{table}();
CREATE TRIGGER shop_cache_{table}_delete AFTER DELETE ON {table}
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION shop_cache_{table}();
CREATE TRIGGER shop_cache_{table}_truncate AFTER TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION shop_cache_truncated();
"""


FORWARD = "".join(_function(table, tags) for table, tags in TABLES.items())
BACKWARD = "".join(
    f"DROP TRIGGER shop_cache_{table}_{event} ON {table};\n"
    for table in TABLES
    for event in ("insert", "update", "delete", "truncate")
) + "".join(f"DROP FUNCTION shop_cache_{table}();\n" for table in TABLES)


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0007_sale_prices"),
    ]

    operations = [
        migrations.CreateModel(
            name="ProductMedia",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True,
                        primary_key=True,
                        serialize=False,
                        verbose_name="ID",
                    ),
                ),
                (
                    "image",
                    models.FileField(
                        editable=False,
                        max_length=200,
                        upload_to=shop.catalog.models._media_path,
                    ),
                ),
                ("digest", models.CharField(editable=False, max_length=64)),
                ("format", models.CharField(editable=False, max_length=10)),
                ("width", models.PositiveIntegerField(editable=False)),
                ("height", models.PositiveIntegerField(editable=False)),
                (
                    "alt",
                    models.CharField(
                        blank=True,
                        help_text="What the image shows, for screen readers.",
                        max_length=250,
                    ),
                ),
                ("sort_order", models.PositiveSmallIntegerField(default=0)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "product",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="media",
                        to="catalog.product",
                    ),
                ),
                (
                    "variants",
                    models.ManyToManyField(
                        blank=True,
                        help_text="The variants this image shows (the red one); empty: the product.",
                        related_name="media",
                        to="catalog.productvariant",
                    ),
                ),
            ],
            options={
                "verbose_name": "image",
                "ordering": ["sort_order", "id"],
                "indexes": [
                    models.Index(
                        fields=["product", "sort_order", "id"],
                        name="catalog_media_order",
                    )
                ],
            },
        ),
        migrations.RunPython(forward, backward),
    ]
