"""Sale prices: each variant's price under the best running sale (written by
shop.discounts.sales) and what the buyer pays now, ``current_price``, a stored
generated column the database keeps equal to COALESCE(sale_price, price) whatever
writes. The cache triggers of 0005 compare ``current_price`` for
``products-price`` from here on."""

import django.db.models.functions.comparison
from django.db import migrations, models

# 0005's function, comparing what the buyer pays (a sale starting or ending moves
# a product in price filters and sorting as a price change does).
VARIANT = """
CREATE OR REPLACE FUNCTION shop_cache_catalog_productvariant() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM shop_cache_changed(ARRAY(
            SELECT 'product-' || product_id FROM new_rows
            UNION ALL SELECT 'variant-' || id FROM new_rows
        ) || ARRAY['products']);
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM shop_cache_changed(ARRAY(
            SELECT 'product-' || product_id FROM old_rows
            UNION ALL SELECT 'variant-' || id FROM old_rows
        ) || ARRAY['products']);
    ELSE
        PERFORM shop_cache_changed(ARRAY(
            SELECT t FROM old_rows o JOIN new_rows n ON n.id = o.id
            CROSS JOIN LATERAL unnest(ARRAY[
                'product-' || n.product_id,
                'product-' || o.product_id,
                'variant-' || n.id,
                CASE WHEN (o.product_id, o.sku) IS DISTINCT FROM (n.product_id, n.sku)
                    THEN 'products' END,
                CASE WHEN (o.price, o.current_price)
                    IS DISTINCT FROM (n.price, n.current_price)
                    THEN 'products-price' END,
                CASE WHEN (o.quantity_available > 0)
                    IS DISTINCT FROM (n.quantity_available > 0)
                    THEN 'products-stock' END,
                CASE WHEN o.sku IS DISTINCT FROM n.sku THEN 'products-search' END,
                CASE WHEN o.attribute_value_ids IS DISTINCT FROM n.attribute_value_ids
                    THEN 'products-attributes' END
            ]) AS t));
    END IF;
    RETURN NULL;
END
$$;
"""

BACKWARD = VARIANT.replace(
    "(o.price, o.current_price)\n                    IS DISTINCT FROM (n.price, n.current_price)",
    "o.price IS DISTINCT FROM n.price",
)


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(VARIANT, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0006_product_tax_class_productvariant_weight_grams"),
    ]

    operations = [
        migrations.AddField(
            model_name="productvariant",
            name="sale_price",
            field=models.DecimalField(
                blank=True, decimal_places=2, editable=False, max_digits=12, null=True
            ),
        ),
        migrations.AlterField(
            model_name="productvariant",
            name="price",
            field=models.DecimalField(
                decimal_places=2,
                help_text="The regular price; a running sale may take something off.",
                max_digits=12,
            ),
        ),
        migrations.AddField(
            model_name="productvariant",
            name="current_price",
            field=models.GeneratedField(
                db_persist=True,
                expression=django.db.models.functions.comparison.Coalesce(
                    "sale_price", "price"
                ),
                output_field=models.DecimalField(decimal_places=2, max_digits=12),
            ),
        ),
        migrations.AddIndex(
            model_name="productvariant",
            index=models.Index(
                fields=["product", "current_price"], name="catalog_variant_current"
            ),
        ),
        migrations.AddIndex(
            model_name="productvariant",
            index=models.Index(
                condition=models.Q(("sale_price__isnull", False)),
                fields=["id"],
                name="catalog_variant_on_sale",
            ),
        ),
        migrations.AddConstraint(
            model_name="productvariant",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("sale_price__gte", 0),
                    ("sale_price__isnull", True),
                    _connector="OR",
                ),
                name="catalog_variant_sale_price_not_negative",
            ),
        ),
        migrations.RunPython(forward, backward),
    ]
