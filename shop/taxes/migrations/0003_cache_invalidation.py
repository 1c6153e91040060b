"""Cached shipping answers (tag ``shipping``) drop when a tax class or rate changes
too, whatever writes it (PostgreSQL only; the function is migration shipping
0002's)."""

from django.db import migrations

TABLES = ("taxes_taxclass", "taxes_taxrate")

FORWARD = "".join(
    f"""
CREATE TRIGGER shop_cache_{table} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON {table} FOR EACH STATEMENT EXECUTE FUNCTION shop_cache_shipping();
"""
    for table in TABLES
)
BACKWARD = "".join(f"DROP TRIGGER shop_cache_{table} ON {table};\n" for table in TABLES)


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("taxes", "0002_tax_classes"),
        ("shipping", "0002_cache_invalidation"),
    ]

    operations = [migrations.RunPython(forward, backward)]
