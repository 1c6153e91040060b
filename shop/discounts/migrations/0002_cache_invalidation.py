"""Cached answers that show prices (tag ``sales``: shop.discounts.sales.prices_read)
drop when a sale, what it covers, or the record of when sales were last applied
changes, whatever writes it (PostgreSQL only; see shop.catalog.cache_tags)."""

from django.db import migrations

TABLES = (
    "discounts_sale",
    "discounts_sale_products",
    "discounts_sale_categories",
    "discounts_sale_variants",
    "discounts_salesapplied",
)

FORWARD = """
CREATE FUNCTION shop_cache_sales() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM shop_cache_changed(ARRAY['sales']);
    RETURN NULL;
END
$$;
""" + "".join(
    f"""
CREATE TRIGGER shop_cache_{table} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON {table} FOR EACH STATEMENT EXECUTE FUNCTION shop_cache_sales();
"""
    for table in TABLES
)

BACKWARD = (
    "".join(f"DROP TRIGGER shop_cache_{table} ON {table};\n" for table in TABLES)
    + "DROP FUNCTION shop_cache_sales();\n"
)


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("discounts", "0001_initial"),
        ("catalog", "0005_cache_invalidation"),
    ]

    operations = [migrations.RunPython(forward, backward)]
