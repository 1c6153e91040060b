"""node, product, variant, categories, category, attributes."""

import pytest
from strawberry.relay import to_base64

from tests.factories import CategoryFactory, make_product

PRODUCT_FIELDS = """
  id name slug description createdAt inStock reviewCount averageRating
  category { slug }
  priceRange { min { amount currency } max { amount currency } }
  attributes { attribute { slug name } value { slug name } }
  variants {
    id sku name quantityAvailable
    price { amount currency }
    attributes { attribute { slug } value { name } }
    product { slug }
  }
"""


@pytest.fixture
def phone(db):
    category = CategoryFactory(name="Phones", slug="phones")
    return make_product(
        name="Alpha Phone",
        slug="alpha-phone",
        category=category,
        attributes={"brand": "Lumen"},
        variants=[
            {"sku": "A-RED", "price": "499.5", "color": "Red", "storage": "128 GB"},
            {
                "sku": "A-BLUE",
                "price": "599",
                "color": "Blue",
                "storage": "256 GB",
                "quantity_available": 0,
            },
        ],
    )


def test_product_by_slug_with_everything(gql, phone):
    data = gql.ok(
        f"query($slug: String) {{ product(slug: $slug) {{ {PRODUCT_FIELDS} }} }}",
        {"slug": "alpha-phone"},
    )["product"]
    assert data["id"] == to_base64("Product", phone.pk)
    assert data["name"] == "Alpha Phone"
    assert data["category"] == {"slug": "phones"}
    assert data["inStock"] is True
    assert data["reviewCount"] == 0
    assert data["averageRating"] is None
    assert data["priceRange"] == {
        "min": {"amount": "499.50", "currency": "USD"},
        "max": {"amount": "599.00", "currency": "USD"},
    }
    assert data["attributes"] == [
        {
            "attribute": {"slug": "brand", "name": "Brand"},
            "value": {"slug": "lumen", "name": "Lumen"},
        }
    ]
    red, blue = data["variants"]
    assert red["sku"] == "A-RED"
    assert red["price"] == {"amount": "499.50", "currency": "USD"}
    assert red["quantityAvailable"] == 5
    assert red["product"] == {"slug": "alpha-phone"}
    assert {
        (a["attribute"]["slug"], a["value"]["name"]) for a in red["attributes"]
    } == {
        ("color", "Red"),
        ("storage", "128 GB"),
    }
    assert blue["quantityAvailable"] == 0


def test_product_by_id(gql, phone):
    data = gql.ok(
        "query($id: ID) { product(id: $id) { slug } }",
        {"id": to_base64("Product", phone.pk)},
    )
    assert data["product"] == {"slug": "alpha-phone"}


def test_unknown_product_is_null(gql, phone):
    assert gql.ok('{ product(slug: "nope") { slug } }') == {"product": None}
    missing = to_base64("Product", phone.pk + 1000)
    assert gql.ok(f'{{ product(id: "{missing}") {{ slug }} }}') == {"product": None}


def test_unpublished_product_is_null_for_shoppers(gql, phone, staff_user):
    phone.is_published = False
    phone.save()
    query = '{ product(slug: "alpha-phone") { slug } variant(sku: "A-RED") { sku } }'
    assert gql.ok(query) == {"product": None, "variant": None}
    gql.login(staff_user)
    assert gql.ok(query) == {
        "product": {"slug": "alpha-phone"},
        "variant": {"sku": "A-RED"},
    }


def test_variant_by_sku(gql, phone):
    data = gql.ok(
        '{ variant(sku: "A-BLUE") { sku price { amount } product { name } } }'
    )
    assert data["variant"] == {
        "sku": "A-BLUE",
        "price": {"amount": "599.00"},
        "product": {"name": "Alpha Phone"},
    }
    assert gql.ok('{ variant(sku: "NOPE") { sku } }') == {"variant": None}


@pytest.mark.parametrize(
    ("type_name", "fragment", "expected_key"),
    [
        ("Product", "... on Product { slug }", "slug"),
        ("ProductVariant", "... on ProductVariant { sku }", "sku"),
        ("Category", "... on Category { slug }", "slug"),
    ],
)
def test_node_resolves_each_type(gql, phone, type_name, fragment, expected_key):
    obj = {
        "Product": phone,
        "ProductVariant": phone.variants.first(),
        "Category": phone.category,
    }[type_name]
    node_id = to_base64(type_name, obj.pk)
    data = gql.ok(f'{{ node(id: "{node_id}") {{ __typename id {fragment} }} }}')["node"]
    assert data["__typename"] == type_name
    assert data["id"] == node_id
    assert data[expected_key] == getattr(obj, expected_key)


def test_node_hides_unpublished_products(gql, phone):
    phone.is_published = False
    phone.save()
    node_id = to_base64("Product", phone.pk)
    assert gql.ok(f'{{ node(id: "{node_id}") {{ id }} }}') == {"node": None}


def test_categories_are_roots_with_children(gql, db):
    phones = CategoryFactory(name="Phones", slug="phones")
    CategoryFactory(name="Android", slug="android", parent=phones)
    CategoryFactory(name="iOS", slug="ios", parent=phones)
    CategoryFactory(name="Audio", slug="audio")
    data = gql.ok(
        "{ categories { slug parent { slug } children { slug parent { slug } } } }"
    )["categories"]
    assert data == [
        {"slug": "audio", "parent": None, "children": []},
        {
            "slug": "phones",
            "parent": None,
            "children": [
                {"slug": "android", "parent": {"slug": "phones"}},
                {"slug": "ios", "parent": {"slug": "phones"}},
            ],
        },
    ]


def test_category_by_slug_with_its_products(gql, phone):
    make_product(name="Beta Phone", category=phone.category, variants=[{"price": 9}])
    make_product(name="Elsewhere", variants=[{"price": 9}])
    data = gql.ok(
        """{ category(slug: "phones") {
              name
              products(ordering: [{price: DESC}], first: 1) {
                totalCount edges { node { name } } pageInfo { hasNextPage }
              }
              cheap: products(filters: {maxPrice: "10"}) { edges { node { name } } }
        } }"""
    )["category"]
    assert data["name"] == "Phones"
    assert data["products"]["totalCount"] == 2
    assert data["products"]["edges"] == [{"node": {"name": "Alpha Phone"}}]
    assert data["products"]["pageInfo"]["hasNextPage"] is True
    assert data["cheap"]["edges"] == [{"node": {"name": "Beta Phone"}}]
    assert gql.ok('{ category(slug: "nope") { name } }') == {"category": None}


def test_attributes_with_values_for_facets(gql, phone):
    data = gql.ok("{ attributes { slug name values { slug name } } }")["attributes"]
    by_slug = {a["slug"]: a for a in data}
    assert set(by_slug) == {"brand", "color", "storage"}
    assert [v["slug"] for v in by_slug["color"]["values"]] == ["blue", "red"]
