"""Sales, vouchers and their uses."""

from decimal import Decimal

import django.core.validators
import django.db.models.deletion
import django.db.models.functions.text
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("catalog", "0007_sale_prices"),
        ("orders", "0007_order_voucher_code"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="SalesApplied",
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
                ("applied_at", models.DateTimeField()),
            ],
            options={
                "verbose_name": "sale prices applied",
                "verbose_name_plural": "sale prices applied",
            },
        ),
        migrations.CreateModel(
            name="Voucher",
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
                    "code",
                    models.CharField(
                        help_text="What the buyer types; compared without regard to case.",
                        max_length=40,
                    ),
                ),
                (
                    "name",
                    models.CharField(
                        blank=True, help_text="For staff.", max_length=200
                    ),
                ),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("PERCENTAGE", "Percentage off"),
                            ("FIXED", "Fixed amount off"),
                            ("FREE_SHIPPING", "Free shipping"),
                        ],
                        default="PERCENTAGE",
                        max_length=20,
                    ),
                ),
                (
                    "value",
                    models.DecimalField(
                        blank=True,
                        decimal_places=2,
                        help_text="Percent (10 for 10%) or the amount off; empty for free shipping.",
                        max_digits=12,
                        null=True,
                        validators=[
                            django.core.validators.MinValueValidator(Decimal("0"))
                        ],
                    ),
                ),
                (
                    "applies_to_sale_items",
                    models.BooleanField(
                        default=False,
                        help_text="Also take it off items already on sale (by default it does not).",
                    ),
                ),
                (
                    "minimum_subtotal",
                    models.DecimalField(
                        blank=True,
                        decimal_places=2,
                        help_text="The cart's subtotal (at the prices paid) must reach this.",
                        max_digits=12,
                        null=True,
                        validators=[
                            django.core.validators.MinValueValidator(Decimal("0"))
                        ],
                    ),
                ),
                (
                    "minimum_quantity",
                    models.PositiveIntegerField(
                        blank=True, help_text="Units in the cart, at least.", null=True
                    ),
                ),
                (
                    "usage_limit",
                    models.PositiveIntegerField(
                        blank=True,
                        help_text="Orders in all; empty: no limit.",
                        null=True,
                    ),
                ),
                (
                    "per_customer_limit",
                    models.PositiveIntegerField(
                        blank=True,
                        help_text="Orders per customer (account, or guest email); empty: no limit.",
                        null=True,
                    ),
                ),
                (
                    "used",
                    models.PositiveIntegerField(
                        default=0, editable=False, help_text="Orders holding a use now."
                    ),
                ),
                (
                    "starts_at",
                    models.DateTimeField(
                        blank=True, help_text="Empty: now.", null=True
                    ),
                ),
                (
                    "ends_at",
                    models.DateTimeField(
                        blank=True, help_text="Empty: no end.", null=True
                    ),
                ),
                ("is_active", models.BooleanField(default=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "categories",
                    models.ManyToManyField(
                        blank=True,
                        help_text="Every category below these is included.",
                        related_name="+",
                        to="catalog.category",
                    ),
                ),
                (
                    "products",
                    models.ManyToManyField(
                        blank=True,
                        help_text="Empty (and no categories): the whole order.",
                        related_name="+",
                        to="catalog.product",
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at", "-id"],
            },
        ),
        migrations.CreateModel(
            name="VoucherUse",
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
                    "email",
                    models.EmailField(
                        help_text='Lower-cased, without a "+tag".', max_length=254
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "order",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="voucher_use",
                        to="orders.order",
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "voucher",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="uses",
                        to="discounts.voucher",
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at", "-id"],
            },
        ),
        migrations.CreateModel(
            name="Sale",
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
                ("name", models.CharField(max_length=200)),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("PERCENTAGE", "Percentage off"),
                            ("FIXED", "Fixed amount off"),
                        ],
                        default="PERCENTAGE",
                        max_length=20,
                    ),
                ),
                (
                    "value",
                    models.DecimalField(
                        decimal_places=2,
                        help_text="Percent (20 for 20%) or the amount off each unit.",
                        max_digits=12,
                        validators=[
                            django.core.validators.MinValueValidator(Decimal("0"))
                        ],
                    ),
                ),
                (
                    "starts_at",
                    models.DateTimeField(
                        blank=True, help_text="Empty: now.", null=True
                    ),
                ),
                (
                    "ends_at",
                    models.DateTimeField(
                        blank=True, help_text="Empty: no end.", null=True
                    ),
                ),
                ("is_active", models.BooleanField(default=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "categories",
                    models.ManyToManyField(
                        blank=True,
                        help_text="Every category below these is included.",
                        related_name="+",
                        to="catalog.category",
                    ),
                ),
                (
                    "products",
                    models.ManyToManyField(
                        blank=True, related_name="+", to="catalog.product"
                    ),
                ),
                (
                    "variants",
                    models.ManyToManyField(
                        blank=True, related_name="+", to="catalog.productvariant"
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at", "-id"],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(("kind", "FIXED"), ("value__gt", 0)),
                            models.Q(
                                ("kind", "PERCENTAGE"),
                                ("value__gt", 0),
                                ("value__lte", 100),
                            ),
                            _connector="OR",
                        ),
                        name="discounts_sale_value",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("starts_at__isnull", True),
                            ("ends_at__isnull", True),
                            ("ends_at__gt", models.F("starts_at")),
                            _connector="OR",
                        ),
                        name="discounts_sale_window",
                    ),
                ],
            },
        ),
        migrations.AddConstraint(
            model_name="voucher",
            constraint=models.UniqueConstraint(
                django.db.models.functions.text.Upper("code"),
                name="discounts_voucher_code_unique",
            ),
        ),
        migrations.AddConstraint(
            model_name="voucher",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("kind", "FREE_SHIPPING"), ("value__isnull", True)),
                    models.Q(("kind", "FIXED"), ("value__gt", 0)),
                    models.Q(
                        ("kind", "PERCENTAGE"), ("value__gt", 0), ("value__lte", 100)
                    ),
                    _connector="OR",
                ),
                name="discounts_voucher_value",
            ),
        ),
        migrations.AddConstraint(
            model_name="voucher",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("starts_at__isnull", True),
                    ("ends_at__isnull", True),
                    ("ends_at__gt", models.F("starts_at")),
                    _connector="OR",
                ),
                name="discounts_voucher_window",
            ),
        ),
        migrations.AddIndex(
            model_name="voucheruse",
            index=models.Index(fields=["voucher", "email"], name="discounts_use_email"),
        ),
        migrations.AddIndex(
            model_name="voucheruse",
            index=models.Index(fields=["voucher", "user"], name="discounts_use_user"),
        ),
    ]
