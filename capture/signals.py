"""Files belong to their rows: when a row goes (directly or through a deleted user), so does its
file. A login that ends takes its open camera sockets with it."""

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

from .consumers import end_sockets
from .groups import session_group, user_group
from .models import Shot, ShotStage, ShotTake


@receiver(post_delete, sender=Shot)
def _delete_shot_file(sender, instance: Shot, **kwargs):
    for field in (instance.original, instance.reconstruction, instance.thumbnail, instance.kept):
        if field:
            field.storage.delete(field.name)


@receiver(post_delete, sender=ShotStage)
@receiver(post_delete, sender=ShotTake)
def _delete_stage_file(sender, instance: ShotStage | ShotTake, **kwargs):
    if instance.image:
        instance.image.storage.delete(instance.image.name)


@receiver(user_logged_out)
def _close_the_sessions_sockets(sender, request, user, **kwargs):
    key = getattr(getattr(request, "session", None), "session_key", None)
    if key:
        end_sockets(session_group(key), "you logged out; log in again to use the camera")


@receiver(pre_save, sender=get_user_model())
def _note_a_password_change(sender, instance, update_fields=None, **kwargs):
    if instance.pk is None or (update_fields is not None and "password" not in update_fields):
        return
    before = sender.objects.filter(pk=instance.pk).values_list("password", flat=True).first()
    instance._flux_password_changed = before is not None and before != instance.password


@receiver(post_save, sender=get_user_model())
def _close_the_users_sockets(sender, instance, created, **kwargs):
    if getattr(instance, "_flux_password_changed", False):
        instance._flux_password_changed = False
        end_sockets(user_group(instance.pk), "your password changed; log in again to use the camera")
