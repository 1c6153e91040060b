"""The tax classes every shop starts with: standard (every product without a
class), reduced and zero. Staff add rates per country, and more classes."""

from django.db import migrations

CLASSES = (("standard", "Standard"), ("reduced", "Reduced"), ("zero", "Zero"))


def forward(apps, schema_editor):
    TaxClass = apps.get_model("taxes", "TaxClass")
    for code, name in CLASSES:
        TaxClass.objects.get_or_create(code=code, defaults={"name": name})


class Migration(migrations.Migration):
    dependencies = [("taxes", "0001_initial")]

    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
