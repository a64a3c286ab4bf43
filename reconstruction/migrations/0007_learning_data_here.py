# Learning data belongs where models are trained: the learning frames (LearningSample) and the
# verdicts they learn from (Feedback) move from capture to reconstruction, so that capture uses
# reconstruction and never the reverse. Moved in place, no row or file is lost: this migration
# takes the two models over in Django's state (their tables keep their names for now), capture's
# 0008 lets go of them, and 0008 here renames the tables and turns a verdict's link to its shot
# into the shot's id.

import django.db.models.deletion
import reconstruction.models
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('capture', '0007_one_verdict_vocabulary'),
        ('reconstruction', '0006_model_version_row'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Feedback',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('verdict', models.CharField(choices=[('accepted', 'accepted'), ('rejected', 'rejected')], max_length=8)),
                        ('created_at', models.DateTimeField(auto_now_add=True, db_index=True)),
                        ('intention', models.CharField(blank=True, max_length=32)),
                        ('targets', models.JSONField(default=dict)),
                        ('groups', models.JSONField(default=list)),
                        ('table_shift', models.JSONField(default=dict)),
                        ('source', models.JSONField(default=dict)),
                        ('reached', models.JSONField(default=dict)),
                        ('exemplars', models.JSONField(default=dict)),
                        ('shot', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='verdicts_moved', to='capture.shot')),
                        ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='feedback', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={'ordering': ['-created_at'], 'db_table': 'capture_feedback'},
                ),
                migrations.CreateModel(
                    name='LearningSample',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('created_at', models.DateTimeField(auto_now_add=True, db_index=True)),
                        ('source', models.CharField(choices=[('stream', 'live stream'), ('shot', 'shutter'), ('import', 'imported'), ('accepted', "accepted shot's original"), ('accepted_edit', 'accepted reconstruction'), ('rejected', 'rejected shot')], default='stream', max_length=16)),
                        ('image', models.FileField(upload_to=reconstruction.models._sample_path)),
                        ('width', models.PositiveIntegerField()),
                        ('height', models.PositiveIntegerField()),
                        ('elements', models.JSONField(default=dict)),
                        ('faces', models.JSONField(default=list)),
                        ('feedback', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='samples', to='reconstruction.feedback')),
                        ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='learning_samples', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'ordering': ['created_at'],
                        'db_table': 'capture_learningsample',
                        'indexes': [models.Index(fields=['user', 'created_at'], name='capture_lea_user_id_95867d_idx')],
                    },
                ),
                migrations.AlterField(
                    model_name='modelversion',
                    name='learned_from',
                    field=models.ManyToManyField(blank=True, related_name='model_versions', to='reconstruction.feedback'),
                ),
            ],
        ),
    ]
