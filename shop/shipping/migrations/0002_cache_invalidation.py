"""Cached answers that list shipping methods (tag ``shipping``) drop when a zone or
a method changes, whatever writes it (PostgreSQL only; the triggers of migration
catalog 0005 do the same for the catalog, see shop.catalog.cache_tags)."""

from django.db import migrations

TABLES = ("shipping_shippingzone", "shipping_shippingmethod")

FORWARD = """
CREATE FUNCTION shop_cache_shipping() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM shop_cache_changed(ARRAY['shipping']);
    RETURN NULL;
END
$$;
""" + "".join(
    f"""
CREATE TRIGGER shop_cache_{table} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON {table} FOR EACH STATEMENT EXECUTE FUNCTION shop_cache_shipping();
"""
    for table in TABLES
)

BACKWARD = (
    "".join(f"DROP TRIGGER shop_cache_{table} ON {table};\n" for table in TABLES)
    + "DROP FUNCTION shop_cache_shipping();\n"
)


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("shipping", "0001_initial"),
        ("catalog", "0005_cache_invalidation"),
    ]

    operations = [migrations.RunPython(forward, backward)]
