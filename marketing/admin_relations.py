"""Relation fields in the admin that answer a tampered value with the form, not a 500.

Django's autocomplete and raw-id widgets look up the submitted keys to show them again, and a
key that is not a number, one past what the column holds (marketing.forms.key_out_of_range) or
text with a NUL (PostgreSQL refuses it) fails there; its multiple-choice field fails the same
way on an out-of-range key. With this mixin such keys are left out of the redisplay and refused
by the field, beside it.
"""

from django.contrib.admin.widgets import AutocompleteSelect, AutocompleteSelectMultiple, ForeignKeyRawIdWidget
from django.core.exceptions import ValidationError

from .forms import ModelMultipleChoiceField, key_out_of_range


class _KnownKeysOnly:
    """Shows again only the submitted values that can be keys of the related rows."""

    def optgroups(self, name, value, attr=None):
        remote = self.field.remote_field
        field = remote.model._meta.get_field(getattr(remote, "field_name", None) or remote.model._meta.pk.name)
        return super().optgroups(name, [item for item in value if _is_key(field, item, self.db)], attr)


def _is_key(field, value, using: str | None) -> bool:
    try:
        field.to_python(value)
    except ValidationError:
        return False
    return "\x00" not in str(value) and not key_out_of_range(field, value, using or "default")


class _ForeignKeyRawIdWidget(ForeignKeyRawIdWidget):
    def label_and_url_for_value(self, value):
        if not _is_key(self.rel.get_related_field(), value, self.db):
            return "", ""
        return super().label_and_url_for_value(value)


class _AutocompleteSelect(_KnownKeysOnly, AutocompleteSelect):
    pass


class _AutocompleteSelectMultiple(_KnownKeysOnly, AutocompleteSelectMultiple):
    pass


class RelationsAdminMixin:
    """For a ModelAdmin or an inline: its autocomplete and raw-id widgets and its many-to-many fields as above."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if "widget" not in kwargs and db_field.name in self.get_autocomplete_fields(request):
            kwargs["widget"] = _AutocompleteSelect(db_field, self.admin_site, using=kwargs.get("using"))
        elif "widget" not in kwargs and db_field.name in self.raw_id_fields:
            kwargs["widget"] = _ForeignKeyRawIdWidget(db_field.remote_field, self.admin_site, using=kwargs.get("using"))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        kwargs.setdefault("form_class", ModelMultipleChoiceField)
        if "widget" not in kwargs and db_field.name in self.get_autocomplete_fields(request):
            kwargs["widget"] = _AutocompleteSelectMultiple(db_field, self.admin_site, using=kwargs.get("using"))
        return super().formfield_for_manytomany(db_field, request, **kwargs)
