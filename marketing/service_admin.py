"""The admin's way through the services.

An admin built on ``ServiceAdmin`` writes by calling services from ``save_model``,
``delete_model`` and its inline formsets, never by saving rows itself. A service that refuses
raises ValidationError; everything the request wrote is rolled back and staff see the service's
own words: on the form, with what they typed, for a save; as a message for a delete.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import router, transaction
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from .admin_relations import RelationsAdminMixin
from .web import add_service_errors, error_text

# Where a refused save leaves the service's error for the form of the second, re-rendering pass.
_REFUSAL = "_service_refusal"


class ServiceAdmin(RelationsAdminMixin, admin.ModelAdmin):
    def changeform_view(self, request: HttpRequest, object_id=None, form_url="", extra_context=None) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ValidationError as error:
            if request.method != "POST":
                raise
            # Django's view ran in a transaction that the error rolled back. Validating the
            # same input again, with the refusal added, shows the form as staff filled it in.
            setattr(request, _REFUSAL, error)
        return super().changeform_view(request, object_id, form_url, extra_context)

    def get_form(self, request: HttpRequest, obj=None, change: bool = False, **kwargs) -> type[forms.ModelForm]:
        form_class = super().get_form(request, obj, change=change, **kwargs)
        refusal: ValidationError | None = getattr(request, _REFUSAL, None)
        if refusal is None:
            return form_class

        class RefusedForm(form_class):
            def clean(self):
                cleaned = super().clean()
                add_service_errors(self, refusal)
                return cleaned

        return RefusedForm

    def delete_view(self, request: HttpRequest, object_id, extra_context=None) -> HttpResponse:
        try:
            return super().delete_view(request, object_id, extra_context)
        except ValidationError as error:
            self.message_user(request, error_text(error), messages.ERROR)
            opts = self.opts
            return HttpResponseRedirect(
                reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[object_id], current_app=self.admin_site.name)
            )

    def changelist_view(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        if request.method != "POST":
            return super().changelist_view(request, extra_context)
        try:
            # An action's writes and their log entries stand or fall together.
            with transaction.atomic(using=router.db_for_write(self.model)):
                return super().changelist_view(request, extra_context)
        except ValidationError as error:
            self.message_user(request, error_text(error), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        """Deletes one by one through ``delete_model``, so bulk deletion obeys the same rules;
        all or nothing."""
        with transaction.atomic(using=router.db_for_write(self.model)):
            for obj in queryset:
                try:
                    self.delete_model(request, obj)
                except ValidationError as error:
                    raise ValidationError(f"Nothing was deleted. {obj}: {error_text(error)}") from error


class ServiceInline(RelationsAdminMixin, admin.TabularInline):
    """An inline whose formset calls services: it overrides ``save_new``, ``save_existing`` and
    ``delete_existing``, and finds the staff user acting in ``self.actor``."""

    def get_formset(self, request: HttpRequest, obj=None, **kwargs) -> type[BaseInlineFormSet]:
        formset = super().get_formset(request, obj, **kwargs)
        formset.actor = request.user
        return formset
