# Learning frames and verdicts now belong to reconstruction (its 0007 took them over; its 0008
# renames their tables): capture lets go of them in Django's state only, so nothing is dropped.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('capture', '0007_one_verdict_vocabulary'),
        ('reconstruction', '0007_learning_data_here'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name='LearningSample'),
                migrations.DeleteModel(name='Feedback'),
            ],
        ),
    ]
