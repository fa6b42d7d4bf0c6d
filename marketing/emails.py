"""Emails written from a pair of templates: ``<name>_subject.txt`` (one line) and ``<name>_message.txt``."""

from django.core.mail import send_mail
from django.template.loader import render_to_string


def send_templated(name: str, context: dict, to: list[str]) -> None:
    """Sends ``name``'s subject and message, rendered with ``context``, from the default sender."""
    send_mail(
        subject=render_to_string(f"{name}_subject.txt", context).strip(),
        message=render_to_string(f"{name}_message.txt", context),
        from_email=None,
        recipient_list=to,
    )
