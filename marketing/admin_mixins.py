"""Mixins shared by the apps' admin classes."""


class NoAddMixin:
    """No add form, for rows that come into being elsewhere, where they are checked: written by
    the application (events received, runs, errors, mirrors of Stripe's objects), connected
    through an outside service's sign-in, or added on the product's own pages. The class's
    docstring or its page says where; staff still read, change and act on the rows it allows."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False
