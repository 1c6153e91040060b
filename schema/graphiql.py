"""The document GraphiQL opens with: the README's three queries, and a hint on
signing in.

GraphiQL sends its Headers editor with every request, so the editor starts empty
and the Bearer header is shown as a comment instead: a placeholder token sent for
real would make every request carry a malformed Authorization header.
tests/schema/test_client_details.py checks README_QUERIES against the README's first
graphql block, so the two never drift apart.
"""

SIGN_IN_HINT = """\
# Signed in? Get a token with the tokenAuth mutation, then open the Headers tab
# below and paste: {"Authorization": "Bearer <token>"}

"""

README_QUERIES = """\
# 1. A product listing page: filters, sorting, a page of 12 and the next cursor
query Listing {
  products(
    filters: { category: "phones", inStock: true,
               attributes: [{ slug: "color", values: ["black", "blue"] }] }
    ordering: [{ price: ASC }, { name: ASC }]
    first: 12
  ) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id name slug inStock priceRange { min { amount currency } } } }
  }
}

# 2. A product page: variants with their attributes, price and stock; its rating
#    and the newest reviews
query ProductPage {
  product(slug: "lumen-x2") {
    id name description category { name slug }
    averageRating reviewCount
    attributes { attribute { name } value { name } }
    variants {
      sku name quantityAvailable price { amount currency }
      attributes { attribute { slug name } value { slug name } }
    }
    reviews(first: 5) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { node { rating comment author verifiedPurchase createdAt editedAt } }
    }
  }
}

# 3. Navigation and filter facets; full-text search (name, description, SKU)
query Navigation {
  categories { name slug children { name slug } }
  attributes { slug name values { slug name } }
  search: products(filters: { search: "noise cancelling" }, first: 5) {
    edges { node { name } }
  }
}
"""

DEFAULT_QUERY = SIGN_IN_HINT + README_QUERIES
