"""Demo reviews for the demo catalog: a few reviewers and what they wrote."""

from django.contrib.auth import get_user_model

from shop.catalog.models import Product
from shop.reviews.models import Review
from shop.reviews.services import review_create

# Demo reviewers: accounts nobody can sign in to (no usable password).
REVIEWERS = [
    ("maya.okafor", "Maya", "Okafor"),
    ("jonas.berg", "Jonas", "Berg"),
    ("priya.nair", "Priya", "Nair"),
    ("tom.hughes", "Tom", "Hughes"),
    ("lena.fischer", "Lena", "Fischer"),
]
REVIEWER_DOMAIN = "reviewers.demo.invalid"

# product slug -> (reviewer, rating, comment), oldest first
DEMO_REVIEWS = {
    "lumen-x2": [
        ("jonas.berg", 5, "Battery easily lasts two days and the screen is superb."),
        ("priya.nair", 4, "Great camera in daylight; night shots are a bit soft."),
        ("tom.hughes", 3, "Solid phone, but the 128 GB model fills up quickly."),
        ("maya.okafor", 5, "Switched from a much pricier phone and do not miss it."),
    ],
    "lumen-x2-pro": [
        ("lena.fischer", 5, "The zoom lens alone is worth the upgrade."),
        ("tom.hughes", 4, "Fast and beautiful; a little heavy in the pocket."),
    ],
    "lumen-x2-silicone-case": [
        ("maya.okafor", 4, "Fits snugly and the buttons still click well."),
        ("jonas.berg", 2, "Collects lint from every pocket it has ever met."),
    ],
}


def demo_reviews_load() -> int:
    """Create the demo reviewers and reviews where missing; returns how many
    reviews were created. Products missing from the catalog are skipped."""
    users = get_user_model().objects
    reviewers = {}
    for handle, first_name, last_name in REVIEWERS:
        reviewer, new = users.get_or_create(
            email=f"{handle}@{REVIEWER_DOMAIN}",
            defaults={"first_name": first_name, "last_name": last_name},
        )
        if new:
            reviewer.set_unusable_password()
            reviewer.save()
        reviewers[handle] = reviewer
    products = dict(
        Product.objects.filter(slug__in=DEMO_REVIEWS).values_list("slug", "pk")
    )
    created = 0
    for slug, reviews in DEMO_REVIEWS.items():
        if slug not in products:
            continue
        for handle, rating, comment in reviews:
            author = reviewers[handle]
            if Review.objects.filter(author=author, product_id=products[slug]).exists():
                continue
            review_create(
                user=author, product_id=products[slug], rating=rating, comment=comment
            )
            created += 1
    return created
