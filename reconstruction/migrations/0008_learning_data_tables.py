# After 0007 and capture's 0008: the moved tables take this app's names, and a verdict keeps its
# shot as the shot's id (no foreign key into capture: capture removes a deleted shot's verdicts).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('capture', '0008_learning_data_moved'),
        ('reconstruction', '0007_learning_data_here'),
    ]

    operations = [
        migrations.AlterField(
            model_name='feedback',
            name='shot',
            field=models.UUIDField(db_column='shot_id', db_index=True),
        ),
        migrations.RenameField(model_name='feedback', old_name='shot', new_name='shot_id'),
        migrations.AlterField(
            model_name='feedback',
            name='shot_id',
            field=models.UUIDField(db_index=True),
        ),
        migrations.AlterModelTable(name='feedback', table=None),
        migrations.AlterModelTable(name='learningsample', table=None),
        migrations.RenameIndex(
            model_name='learningsample',
            new_name='reconstruct_user_id_cff620_idx',
            old_name='capture_lea_user_id_95867d_idx',
        ),
    ]
