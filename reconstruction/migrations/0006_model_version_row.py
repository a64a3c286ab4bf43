# The database row of a trained version was named like the ML base class
# (reconstruction.core.generators.base.FluctuationModel); it is a ModelVersion. Renamed in place: no
# row, weights path or feedback link is lost.

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('capture', '0007_one_verdict_vocabulary'),
        ('reconstruction', '0005_labels_without_claim_numbers'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RenameModel(old_name='FluctuationModel', new_name='ModelVersion'),
        migrations.AlterField(
            model_name='modelversion',
            name='user',
            field=models.ForeignKey(on_delete=models.deletion.CASCADE, related_name='model_versions', to=settings.AUTH_USER_MODEL),
        ),
    ]
