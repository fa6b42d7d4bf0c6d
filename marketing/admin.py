from collections.abc import Callable
from functools import partial

from celery.schedules import ParseException
from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.utils.text import Truncator
from django_celery_beat.admin import CrontabScheduleAdmin as BeatCrontabScheduleAdmin
from django_celery_beat.models import CrontabSchedule

from . import services
from .admin_relations import RelationsAdminMixin
from .admin_mixins import NoAddMixin
from .models import Feedback, FeedbackStatus, Invitation, Membership, Role, User, Workspace
from .service_admin import ServiceAdmin, ServiceInline


class MembershipFormSet(BaseInlineFormSet):
    """Adds, re-roles and removes members through the services, so a workspace keeps an owner.

    Demotions and removals wait until the other rows are saved: handing ownership from one
    member to another in one save then finds the new owner already in place.
    """

    def save(self, commit: bool = True) -> list[Membership]:
        self._after: list[Callable[[], object]] = []
        saved = super().save(commit)
        for write in self._after:
            write()
        return saved

    def save_new(self, form, commit=True) -> Membership:
        new = form.instance
        setattr(new, self.fk.name, self.instance)
        return services.membership_add(workspace=new.workspace, user=new.user, role=new.role, by=self.actor)

    def save_existing(self, form, obj: Membership, commit=True) -> Membership:
        moved = [name for name in ("user", "workspace") if name in form.changed_data]
        if moved:
            raise ValidationError(f"A membership keeps its {moved[0]}: remove it and add a new one instead.")
        role = form.cleaned_data["role"]
        write = partial(services.membership_change_role, membership=obj, by=self.actor, role=role)
        if role == Role.OWNER:
            return write()
        self._after.append(write)
        return obj

    def delete_existing(self, obj: Membership, commit=True) -> None:
        self._after.append(partial(services.membership_remove, membership=obj, by=self.actor))


class WorkspaceMembershipInline(ServiceInline):
    model = Membership
    formset = MembershipFormSet
    extra = 0
    autocomplete_fields = ["user"]
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]


class UserMembershipInline(WorkspaceMembershipInline):
    autocomplete_fields = ["workspace"]
    fields = ["workspace", "role", "created_at"]


@admin.register(User)
class UserAdmin(ServiceAdmin, BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "name", "is_staff", "is_active", "date_joined", "last_login"]
    list_filter = ["is_staff", "is_superuser", "is_active", "date_joined"]
    search_fields = ["email", "name"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Profile", {"fields": ["name", "timezone"]}),
        ("Permissions", {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]})]
    inlines = [UserMembershipInline]

    def delete_model(self, request: HttpRequest, obj: User) -> None:
        services.user_delete(user=obj)


@admin.register(Workspace)
class WorkspaceAdmin(ServiceAdmin):
    list_display = ["name", "slug", "timezone", "require_approval", "member_count", "created_at"]
    list_filter = ["timezone", "require_approval", "created_at"]
    search_fields = ["name", "slug", "memberships__user__email"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [WorkspaceMembershipInline]

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).annotate(_member_count=Count("memberships"))

    @admin.display(ordering="_member_count", description="Members")
    def member_count(self, obj: Workspace) -> int:
        return obj._member_count


@admin.register(Membership)
class MembershipAdmin(ServiceAdmin):
    list_display = ["user", "workspace", "role", "created_at"]
    list_filter = ["role", "created_at"]
    search_fields = ["user__email", "workspace__name"]
    list_select_related = ["user", "workspace"]
    autocomplete_fields = ["user", "workspace"]

    def get_readonly_fields(self, request: HttpRequest, obj: Membership | None = None) -> list[str]:
        # Moving a membership to another user or workspace would skip the last-owner rule.
        return ["user", "workspace"] if obj is not None else []

    def save_model(self, request: HttpRequest, obj: Membership, form, change: bool) -> None:
        if change:
            services.membership_change_role(membership=obj, by=request.user, role=obj.role)
        else:
            saved = services.membership_add(workspace=obj.workspace, user=obj.user, role=obj.role, by=request.user)
            obj.pk = saved.pk

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        services.membership_remove(membership=obj, by=request.user)


@admin.register(Invitation)
class InvitationAdmin(RelationsAdminMixin, admin.ModelAdmin):
    list_display = ["email", "workspace", "role", "invited_by", "created_at", "expires_at", "accepted_at"]
    list_filter = ["role", ("accepted_at", admin.EmptyFieldListFilter), "created_at"]
    search_fields = ["email", "workspace__name"]
    list_select_related = ["workspace", "invited_by"]
    readonly_fields = ["uuid", "created_at", "accepted_at", "accepted_by"]
    autocomplete_fields = ["workspace", "invited_by"]


def _feedback_mark(status: FeedbackStatus) -> Callable:
    """The list action that sets ``status`` on the selected feedback, through the service."""

    @admin.action(description=f"Mark as {status.label.lower()}", permissions=["change"])
    def mark(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset) -> None:
        for feedback in queryset:
            services.feedback_respond(feedback=feedback, status=status, reply=feedback.reply, by=request.user)
        modeladmin.message_user(request, f"{len(queryset)} marked “{status.label}”.")

    mark.__name__ = f"mark_{status}"
    return mark


@admin.register(Feedback)
class FeedbackAdmin(NoAddMixin, ServiceAdmin):
    """Marketers send it from the account menu ("Send feedback"). Staff set its status and write
    a reply here: the sender sees both on their feedback page and gets the reply by email."""

    list_display = ["created_at", "kind", "status", "summary", "workspace", "author", "replied_at"]
    list_filter = ["status", "kind", "created_at"]
    search_fields = ["message", "reply", "author__email", "workspace__name"]
    list_select_related = ["workspace", "author"]
    date_hierarchy = "created_at"
    fields = ["workspace", "author", "kind", "created_at", "page", "user_agent", "message", "status", "reply", "replied_at", "replied_by"]
    readonly_fields = ["workspace", "author", "kind", "created_at", "page", "user_agent", "message", "replied_at", "replied_by"]
    actions = [_feedback_mark(status) for status in (FeedbackStatus.READ, FeedbackStatus.PLANNED, FeedbackStatus.DONE, FeedbackStatus.DECLINED)]

    @admin.display(description="Message")
    def summary(self, obj: Feedback) -> str:
        return Truncator(obj.message).chars(90)

    def save_model(self, request: HttpRequest, obj: Feedback, form, change: bool) -> None:
        # The row as stored, not the form's instance: the service emails a reply that changed.
        stored = Feedback.objects.get(pk=obj.pk)
        services.feedback_respond(feedback=stored, status=form.cleaned_data["status"], reply=form.cleaned_data["reply"], by=request.user)



admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(RelationsAdminMixin, BaseGroupAdmin):
    pass


admin.site.unregister(CrontabSchedule)


@admin.register(CrontabSchedule)
class CrontabScheduleAdmin(BeatCrontabScheduleAdmin):
    """django-celery-beat's, the crontab in words shown only when celery can read it: with a field
    such as "-1" (celery's ParseException, which its reading lets through) the form's redisplay
    failed instead of showing the field's error."""

    fields = tuple("reading" if name == "human_readable" else name for name in BeatCrontabScheduleAdmin.fields)
    readonly_fields = ("reading",)

    @admin.display(description="Human readable")
    def reading(self, obj: CrontabSchedule) -> str:
        try:
            return obj.human_readable
        except ParseException:
            return self.get_empty_value_display()
