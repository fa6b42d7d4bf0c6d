from django import forms


class PickAccountsForm(forms.Form):
    accounts = forms.MultipleChoiceField(
        label="Accounts to add",
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Pick at least one account."},
    )

    def __init__(self, *args, candidates, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["accounts"].choices = [
            (c.ig_user_id, f"@{c.username} (Page: {c.page_name})" if c.page_name else f"@{c.username}") for c in candidates
        ]
