from allauth.account.adapter import DefaultAccountAdapter

from .services import workspace_create


class AccountAdapter(DefaultAccountAdapter):
    def save_user(self, request, user, form, commit=True):
        user = super().save_user(request, user, form, commit=commit)
        if commit:
            # Every new account starts with a workspace of its own, so the app is usable at once.
            local_part = user.email.split("@")[0]
            workspace_create(name=f"{local_part}'s workspace", owner=user)
        return user
