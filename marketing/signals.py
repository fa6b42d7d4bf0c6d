"""Receivers of other apps' model signals."""

from allauth.mfa.models import Authenticator
from django.db.models import F
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .models import User


@receiver(post_save, sender=Authenticator)
def _authenticator_added(sender, instance: Authenticator, created: bool, **kwargs) -> None:
    if created:
        _two_factor_changed(instance.user_id)


@receiver(post_delete, sender=Authenticator)
def _authenticator_removed(sender, instance: Authenticator, **kwargs) -> None:
    # Turned off on the account page, in another session or in the admin alike.
    _two_factor_changed(instance.user_id)


def _two_factor_changed(user_id: int) -> None:
    User.objects.filter(pk=user_id).update(two_factor_version=F("two_factor_version") + 1)
