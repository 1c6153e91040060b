"""Query.products: filters, ordering, pagination, visibility."""

import pytest
from strawberry.relay import to_base64

from tests.factories import CategoryFactory, UserFactory, make_product
from tests.reviews_helpers import review

PRODUCTS = """
query Products($filters: ProductFilter, $ordering: [ProductOrder!],
               $first: Int, $after: String, $last: Int, $before: String) {
  products(filters: $filters, ordering: $ordering, first: $first, after: $after,
           last: $last, before: $before) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id name slug inStock priceRange { min { amount } } } }
  }
}
"""


def names(gql, **variables) -> list[str]:
    data = gql.ok(PRODUCTS, variables)
    return [edge["node"]["name"] for edge in data["products"]["edges"]]


@pytest.fixture
def catalog(db):
    """Phones with colour x storage, a T-shirt, a sold-out product, an empty one."""
    electronics = CategoryFactory(name="Electronics", slug="electronics")
    phones = CategoryFactory(name="Phones", slug="phones", parent=electronics)
    android = CategoryFactory(name="Android", slug="android", parent=phones)
    clothing = CategoryFactory(name="Clothing", slug="clothing")
    return {
        "alpha": make_product(
            name="Alpha Phone",
            category=phones,
            description="A bright OLED screen.",
            attributes={"brand": "Lumen"},
            variants=[
                {
                    "sku": "ALPHA-RED-128",
                    "price": "500",
                    "color": "Red",
                    "storage": "128 GB",
                    "quantity_available": 0,
                },
                {
                    "sku": "ALPHA-BLUE-256",
                    "price": "600",
                    "color": "Blue",
                    "storage": "256 GB",
                    "quantity_available": 3,
                },
            ],
        ),
        "beta": make_product(
            name="Beta Phone",
            category=android,
            description="Seven years of updates.",
            attributes={"brand": "Northwind"},
            variants=[
                {
                    "sku": "BETA-RED-256",
                    "price": "800",
                    "color": "Red",
                    "storage": "256 GB",
                    "quantity_available": 7,
                },
            ],
        ),
        "tee": make_product(
            name="Cotton Tee",
            category=clothing,
            description="Soft organic cotton.",
            variants=[
                {
                    "sku": "TEE-M",
                    "price": "25",
                    "size": "M",
                    "color": "Blue",
                    "quantity_available": 9,
                },
            ],
        ),
        "gone": make_product(
            name="Gone Gadget",
            category=electronics,
            variants=[{"sku": "GONE-1", "price": "40", "quantity_available": 0}],
        ),
        "bare": make_product(name="Bare Product", category=clothing),
    }


def test_every_published_product_newest_first(gql, catalog):
    data = gql.ok(PRODUCTS)["products"]
    assert data["totalCount"] == 5
    assert [e["node"]["name"] for e in data["edges"]] == [
        "Bare Product",
        "Gone Gadget",
        "Cotton Tee",
        "Beta Phone",
        "Alpha Phone",
    ]


def test_unpublished_products_are_hidden_except_from_staff(gql, catalog, staff_user):
    catalog["beta"].is_published = False
    catalog["beta"].save()
    assert "Beta Phone" not in names(gql)
    gql.login(staff_user)
    assert "Beta Phone" in names(gql)


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("phone", {"Alpha Phone", "Beta Phone"}),  # name, stemmed
        ("OLED", {"Alpha Phone"}),  # description
        ("ALPHA-BLUE-256", {"Alpha Phone"}),  # SKU
        ("updates", {"Beta Phone"}),
        ("cotton tee", {"Cotton Tee"}),
        ("nothing-like-this", set()),
    ],
)
def test_filter_search(gql, catalog, search, expected):
    assert set(names(gql, filters={"search": search})) == expected


def test_search_ranks_name_matches_first(gql, catalog):
    make_product(name="Case", description="Fits the alpha phone and any phone.")
    assert names(gql, filters={"search": "alpha phone"}) == ["Alpha Phone", "Case"]


def test_filter_category_includes_descendants(gql, catalog):
    assert set(names(gql, filters={"category": "electronics"})) == {
        "Alpha Phone",
        "Beta Phone",
        "Gone Gadget",
    }
    assert set(names(gql, filters={"category": "phones"})) == {
        "Alpha Phone",
        "Beta Phone",
    }
    assert names(gql, filters={"category": "android"}) == ["Beta Phone"]
    assert names(gql, filters={"category": "no-such-category"}) == []


@pytest.mark.parametrize(
    ("bounds", "expected"),
    [
        ({"minPrice": "550"}, {"Alpha Phone", "Beta Phone"}),
        ({"maxPrice": "40"}, {"Cotton Tee", "Gone Gadget"}),
        ({"minPrice": "550", "maxPrice": "650"}, {"Alpha Phone"}),
        ({"minPrice": "600.00", "maxPrice": "600.00"}, {"Alpha Phone"}),
        ({"minPrice": "650", "maxPrice": "750"}, set()),
    ],
)
def test_filter_price_matches_any_variant(gql, catalog, bounds, expected):
    assert set(names(gql, filters=bounds)) == expected


def test_filter_attributes_or_within_and_across(gql, catalog):
    def attrs(*pairs):
        return names(
            gql,
            filters={"attributes": [{"slug": s, "values": list(v)} for s, v in pairs]},
        )

    assert set(attrs(("color", ["red"]))) == {"Alpha Phone", "Beta Phone"}
    assert set(attrs(("color", ["red", "blue"]))) == {
        "Alpha Phone",
        "Beta Phone",
        "Cotton Tee",
    }
    # AND across attributes, on one same variant: Alpha has red 128 and blue 256.
    assert set(attrs(("color", ["red"]), ("storage", ["256-gb"]))) == {"Beta Phone"}
    assert set(attrs(("color", ["blue"]), ("storage", ["256-gb"]))) == {"Alpha Phone"}
    # A product-level value (Brand) combines with variant values.
    assert attrs(("brand", ["lumen"]), ("color", ["blue"])) == ["Alpha Phone"]
    assert attrs(("brand", ["northwind"]), ("color", ["blue"])) == []
    assert attrs(("color", ["no-such-colour"])) == []


def test_filter_in_stock(gql, catalog):
    assert set(names(gql, filters={"inStock": True})) == {
        "Alpha Phone",
        "Beta Phone",
        "Cotton Tee",
    }
    assert set(names(gql, filters={"inStock": False})) == {
        "Gone Gadget",
        "Bare Product",
    }


def test_variant_conditions_hold_for_one_same_variant(gql, catalog):
    # Alpha's red variant is sold out; its blue one is in stock.
    red_in_stock = {
        "attributes": [{"slug": "color", "values": ["red"]}],
        "inStock": True,
    }
    assert names(gql, filters=red_in_stock) == ["Beta Phone"]
    assert names(gql, filters={"maxPrice": "550", "inStock": True}) == ["Cotton Tee"]


def test_filters_combine(gql, catalog):
    filters = {"category": "electronics", "search": "phone", "minPrice": "700"}
    assert names(gql, filters=filters) == ["Beta Phone"]


def test_filter_or_and_not(gql, catalog):
    either = {"category": "android", "OR": {"category": "clothing"}}
    assert set(names(gql, filters=either)) == {
        "Beta Phone",
        "Cotton Tee",
        "Bare Product",
    }
    phones_not_android = {"category": "phones", "NOT": {"category": "android"}}
    assert names(gql, filters=phones_not_android) == ["Alpha Phone"]


def test_in_stock_and_price_range_fields(gql, catalog):
    data = gql.ok(PRODUCTS, {"ordering": [{"name": "ASC"}]})["products"]
    nodes = {e["node"]["name"]: e["node"] for e in data["edges"]}
    assert nodes["Alpha Phone"]["inStock"] is True
    assert nodes["Gone Gadget"]["inStock"] is False
    assert nodes["Bare Product"]["inStock"] is False
    assert nodes["Alpha Phone"]["priceRange"] == {"min": {"amount": "500.00"}}
    assert nodes["Bare Product"]["priceRange"] is None


@pytest.mark.parametrize(
    ("ordering", "expected"),
    [
        (
            [{"name": "ASC"}],
            ["Alpha Phone", "Bare Product", "Beta Phone", "Cotton Tee", "Gone Gadget"],
        ),
        (
            [{"name": "DESC"}],
            ["Gone Gadget", "Cotton Tee", "Beta Phone", "Bare Product", "Alpha Phone"],
        ),
        (
            [{"createdAt": "ASC"}],
            ["Alpha Phone", "Beta Phone", "Cotton Tee", "Gone Gadget", "Bare Product"],
        ),
        (
            [{"createdAt": "DESC"}],
            ["Bare Product", "Gone Gadget", "Cotton Tee", "Beta Phone", "Alpha Phone"],
        ),
        # Lowest variant price; a product without variants comes last either way.
        (
            [{"price": "ASC"}],
            ["Cotton Tee", "Gone Gadget", "Alpha Phone", "Beta Phone", "Bare Product"],
        ),
        (
            [{"price": "DESC"}],
            ["Beta Phone", "Alpha Phone", "Gone Gadget", "Cotton Tee", "Bare Product"],
        ),
        (
            [{"price": "DESC_NULLS_FIRST"}],
            ["Bare Product", "Beta Phone", "Alpha Phone", "Gone Gadget", "Cotton Tee"],
        ),
    ],
)
def test_ordering(gql, catalog, ordering, expected):
    assert names(gql, ordering=ordering) == expected


def test_ordering_items_apply_in_list_order(gql, catalog):
    make_product(name="Alpha Phone Mini", variants=[{"price": "25"}])
    by_price_then_name = [{"price": "ASC"}, {"name": "DESC"}]
    assert names(gql, ordering=by_price_then_name)[:2] == [
        "Cotton Tee",
        "Alpha Phone Mini",
    ]
    by_price_then_name[1] = {"name": "ASC"}
    assert names(gql, ordering=by_price_then_name)[:2] == [
        "Alpha Phone Mini",
        "Cotton Tee",
    ]


def test_ordering_by_rating_puts_unrated_last(gql, catalog):
    for rating in (4, 5):
        review(UserFactory(), catalog["tee"], rating=rating)
    review(UserFactory(), catalog["beta"], rating=3)
    assert names(gql, ordering=[{"rating": "DESC"}])[:2] == ["Cotton Tee", "Beta Phone"]
    assert names(gql, ordering=[{"rating": "ASC"}])[:2] == ["Beta Phone", "Cotton Tee"]


def test_ordering_null_is_the_default_order(gql, catalog):
    assert names(gql, ordering=None) == names(gql)


def test_pagination_forward(gql, catalog):
    ordering = [{"name": "ASC"}]
    first = gql.ok(PRODUCTS, {"first": 2, "ordering": ordering})["products"]
    assert [e["node"]["name"] for e in first["edges"]] == [
        "Alpha Phone",
        "Bare Product",
    ]
    assert first["totalCount"] == 5
    assert first["pageInfo"]["hasNextPage"] is True
    assert first["pageInfo"]["hasPreviousPage"] is False
    after = first["pageInfo"]["endCursor"]
    assert after == first["edges"][-1]["cursor"]

    second = gql.ok(PRODUCTS, {"first": 2, "after": after, "ordering": ordering})
    page = second["products"]
    assert [e["node"]["name"] for e in page["edges"]] == ["Beta Phone", "Cotton Tee"]
    assert page["pageInfo"]["hasNextPage"] is True

    third = gql.ok(
        PRODUCTS,
        {"first": 2, "after": page["pageInfo"]["endCursor"], "ordering": ordering},
    )["products"]
    assert [e["node"]["name"] for e in third["edges"]] == ["Gone Gadget"]
    assert third["pageInfo"]["hasNextPage"] is False


def test_pagination_backward(gql, catalog):
    ordering = [{"price": "ASC"}]
    last = gql.ok(PRODUCTS, {"last": 2, "ordering": ordering})["products"]
    assert [e["node"]["name"] for e in last["edges"]] == ["Beta Phone", "Bare Product"]
    assert last["pageInfo"]["hasPreviousPage"] is True
    assert last["pageInfo"]["hasNextPage"] is False

    before = last["pageInfo"]["startCursor"]
    previous = gql.ok(PRODUCTS, {"last": 2, "before": before, "ordering": ordering})
    page = previous["products"]
    assert [e["node"]["name"] for e in page["edges"]] == ["Gone Gadget", "Alpha Phone"]
    assert page["pageInfo"]["hasPreviousPage"] is True

    rest = gql.ok(
        PRODUCTS,
        {"last": 2, "before": page["pageInfo"]["startCursor"], "ordering": ordering},
    )["products"]
    assert [e["node"]["name"] for e in rest["edges"]] == ["Cotton Tee"]
    assert rest["pageInfo"]["hasPreviousPage"] is False


def test_pagination_is_stable_across_equal_sort_keys(gql, db):
    for n in range(7):
        make_product(name="Same Name", slug=f"same-{n}", variants=[{"price": "9"}])
    seen, after = [], None
    while True:
        page = gql.ok(
            PRODUCTS, {"first": 3, "after": after, "ordering": [{"name": "ASC"}]}
        )["products"]
        seen += [edge["node"]["slug"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert sorted(seen) == sorted(f"same-{n}" for n in range(7))


def test_pagination_with_search_ranking(gql, db):
    for n in range(5):
        make_product(name=f"Lamp {n}", description="lamp " * (n + 1))
    seen, after = [], None
    for _ in range(5):
        page = gql.ok(
            PRODUCTS, {"first": 2, "after": after, "filters": {"search": "lamp"}}
        )["products"]
        seen += [edge["node"]["name"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert sorted(seen) == [f"Lamp {n}" for n in range(5)]
    assert len(seen) == 5


def test_a_cursor_from_elsewhere_is_a_clean_error(gql, catalog):
    result = gql(PRODUCTS, {"first": 2, "after": to_base64("arrayconnection", 1)})
    assert result.status == 200
    assert result.data is None
    assert len(result.errors) == 1


def test_price_bounds_finer_than_a_cent_keep_their_meaning(gql, catalog):
    # rounded inwards: 500.00 is below 500.001 and 600.00 above 599.999
    assert (
        set(names(gql, filters={"minPrice": "500.001", "maxPrice": "599.999"})) == set()
    )
    assert names(gql, filters={"minPrice": "499.999", "maxPrice": "500.001"}) == [
        "Alpha Phone"
    ]
    assert len(names(gql, filters={"minPrice": "1e-1000000"})) == 4
