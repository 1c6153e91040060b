"""Cache invalidation by tags: triggers record what each write changed
(PostgreSQL only; see shop.catalog.cache_tags).

Every statement that writes a catalog table (and every change of a user's name,
which reviews show) inserts, in its own transaction, the cache tags it changed
into ``catalog_cacheinvalidation`` and notifies ``shop_cache``. Statement-level
triggers with transition tables: one INSERT of tags per statement, whatever wrote
it (Django, the admin, bulk updates, raw SQL, COPY, psql). The tags:

- each row's entity (``product-<id>``, ``variant-<id>`` with its product's,
  ``category-<id>`` with its parent's, ``attribute-<id>``, ``attribute-value-<id>``,
  ``review-<id>`` with its product's, ``user-<id>``);
- the lists a change can reorder or change the membership of, judged from the old
  and new rows: ``products`` (a product created, deleted, published or unpublished,
  moved, its slug or creation time changed; a variant created, deleted, moved or its
  SKU changed), ``products-price`` (a variant's price, a product's price range),
  ``products-stock`` (a variant's stock crossing zero), ``products-name``,
  ``products-search`` (name, description, search vector, SKU), ``products-rating``,
  ``products-attributes`` (assignments, a variant's value ids, attributes and their
  values), ``categories`` and ``attributes`` (any write to them);
- ``*`` for a TRUNCATE, or a statement with more than 1,000 tags (a bulk load):
  the whole cache.
"""

from django.db import migrations, models

BULK_TAGS = 1000

HELPER = f"""
CREATE FUNCTION shop_cache_changed(tags text[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    tags := ARRAY(SELECT DISTINCT t FROM unnest(tags) AS t WHERE t IS NOT NULL);
    IF cardinality(tags) = 0 THEN
        RETURN;
    END IF;
    IF cardinality(tags) > {BULK_TAGS} THEN
        tags := ARRAY['*'];
    END IF;
    INSERT INTO catalog_cacheinvalidation (tag) SELECT unnest(tags);
    PERFORM pg_notify('shop_cache', '');
END
$$;

CREATE FUNCTION shop_cache_truncated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM shop_cache_changed(ARRAY['*']);
    RETURN NULL;
END
$$;
"""

# Tables whose every write counts the same way: the tags of a row (alias r), for
# the rows inserted, deleted, or before and after an update.
SIMPLE = {
    "catalog_category": (
        "'category-' || r.id, 'category-' || r.parent_id, 'categories'"
    ),
    "catalog_attribute": "'attribute-' || r.id, 'attributes', 'products-attributes'",
    "catalog_attributevalue": (
        "'attribute-' || r.attribute_id, 'attribute-value-' || r.id, "
        "'attributes', 'products-attributes'"
    ),
    "catalog_assignedattribute": (
        "'product-' || r.product_id, 'variant-' || r.variant_id, "
        "'product-' || (SELECT v.product_id FROM catalog_productvariant v "
        "WHERE v.id = r.variant_id), 'products-attributes'"
    ),
    "reviews_review": "'product-' || r.product_id, 'review-' || r.id",
}


def _simple(table: str, tags: str) -> str:
    rows = "SELECT DISTINCT t FROM {rows} r CROSS JOIN LATERAL unnest(ARRAY[" + tags
    rows += "]) AS t"
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
"""


PRODUCT = """
CREATE FUNCTION shop_cache_catalog_product() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM shop_cache_changed(
            ARRAY(SELECT 'product-' || id FROM new_rows) || ARRAY['products']);
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM shop_cache_changed(
            ARRAY(SELECT 'product-' || id FROM old_rows) || ARRAY['products']);
    ELSE
        PERFORM shop_cache_changed(ARRAY(
            SELECT t FROM old_rows o JOIN new_rows n ON n.id = o.id
            CROSS JOIN LATERAL unnest(ARRAY[
                'product-' || n.id,
                CASE WHEN (o.is_published, o.category_id, o.slug, o.created_at)
                    IS DISTINCT FROM (n.is_published, n.category_id, n.slug, n.created_at)
                    THEN 'products' END,
                CASE WHEN (o.price_min, o.price_max)
                    IS DISTINCT FROM (n.price_min, n.price_max)
                    THEN 'products-price' END,
                CASE WHEN o.name IS DISTINCT FROM n.name THEN 'products-name' END,
                CASE WHEN (o.name, o.description, o.search_vector)
                    IS DISTINCT FROM (n.name, n.description, n.search_vector)
                    THEN 'products-search' END,
                CASE WHEN o.rating_average IS DISTINCT FROM n.rating_average
                    THEN 'products-rating' END
            ]) AS t));
    END IF;
    RETURN NULL;
END
$$;
"""

VARIANT = """
CREATE FUNCTION shop_cache_catalog_productvariant() RETURNS trigger
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
                CASE WHEN o.price IS DISTINCT FROM n.price THEN 'products-price' END,
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

USER = """
CREATE FUNCTION shop_cache_accounts_user() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM shop_cache_changed(ARRAY(
        SELECT 'user-' || n.id FROM old_rows o JOIN new_rows n ON n.id = o.id
        WHERE (o.first_name, o.last_name) IS DISTINCT FROM (n.first_name, n.last_name)
    ));
    RETURN NULL;
END
$$;

CREATE TRIGGER shop_cache_accounts_user_update
    AFTER UPDATE ON accounts_user
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION shop_cache_accounts_user();
"""

TABLES = (
    "catalog_category",
    "catalog_product",
    "catalog_productvariant",
    "catalog_attribute",
    "catalog_attributevalue",
    "catalog_assignedattribute",
    "reviews_review",
)


def _triggers(table: str) -> str:
    function = f"shop_cache_{table}()"
    return f"""
CREATE TRIGGER shop_cache_{table}_insert AFTER INSERT ON {table}
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION {function};
CREATE TRIGGER shop_cache_{table}_update AFTER UPDATE ON {table}
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION {function};
CREATE TRIGGER shop_cache_{table}_delete AFTER DELETE ON {table}
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION {function};
CREATE TRIGGER shop_cache_{table}_truncate AFTER TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION shop_cache_truncated();
"""


FORWARD = (
    HELPER
    + "".join(_simple(table, tags) for table, tags in SIMPLE.items())
    + PRODUCT
    + VARIANT
    + "".join(_triggers(table) for table in TABLES)
    + USER
)

BACKWARD = (
    "DROP TRIGGER shop_cache_accounts_user_update ON accounts_user;\n"
    + "".join(
        f"DROP TRIGGER shop_cache_{table}_{event} ON {table};\n"
        for table in TABLES
        for event in ("insert", "update", "delete", "truncate")
    )
    + "".join(f"DROP FUNCTION shop_cache_{table}();\n" for table in TABLES)
    + "DROP FUNCTION shop_cache_accounts_user();\n"
    + "DROP FUNCTION shop_cache_truncated();\n"
    + "DROP FUNCTION shop_cache_changed(text[]);\n"
)


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0004_variant_attribute_value_ids"),
        ("reviews", "0001_initial"),
        ("accounts", "0002_email_lower_unique"),
    ]

    operations = [
        migrations.CreateModel(
            name="CacheInvalidation",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("tag", models.CharField(max_length=100)),
            ],
            options={"verbose_name": "pending cache invalidation"},
        ),
        migrations.RunPython(forward, backward),
    ]
