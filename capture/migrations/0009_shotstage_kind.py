# "stage" named a module, a dataclass, its field and this column: a stage's kind (original,
# placeholder, preview, reconstruction) is now called its kind. Renamed in place.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('capture', '0008_learning_data_moved'),
    ]

    operations = [
        migrations.RenameField(model_name='shotstage', old_name='stage', new_name='kind'),
        migrations.AlterField(
            model_name='shotstage',
            name='kind',
            field=models.CharField(max_length=16),
        ),
    ]
