import io
from datetime import timedelta

import factory
from allauth.account.models import EmailAddress
from django.utils import timezone
from PIL import Image as PILImage

from campaigns.models import Campaign, CampaignImage
from marketing.models import Invitation, Membership, User, Workspace

PASSWORD = "correct horse battery staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def verified(obj, create, extracted, **kwargs):
        obj.save()
        if create and extracted is not False:
            EmailAddress.objects.create(user=obj, email=obj.email, verified=True, primary=True)


class WorkspaceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Workspace

    name = factory.Sequence(lambda n: f"Workspace {n}")
    slug = factory.Sequence(lambda n: f"workspace-{n}")
    timezone = "Europe/Berlin"


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    workspace = factory.SubFactory(WorkspaceFactory)
    role = "member"


class InvitationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Invitation

    workspace = factory.SubFactory(WorkspaceFactory)
    email = factory.Sequence(lambda n: f"invitee{n}@example.com")
    role = "member"
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=7))


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Campaign
        skip_postgeneration_save = True

    workspace = factory.SubFactory(WorkspaceFactory)
    name = factory.Sequence(lambda n: f"Campaign {n}")
    brief = "Linen shirts on a sunny beach"
    caption = "Our linen collection is here."
    hashtags = "#summer #linen"

    @factory.post_generation
    def targets(obj, create, extracted, **kwargs):
        """``CampaignFactory(targets=[account, workflow])``: publish to those objects."""
        from campaigns import destinations
        from campaigns.models import CampaignTarget

        for target in extracted or []:
            destination, object_id = destinations.parse_key(destinations.key_for(target))
            CampaignTarget.objects.create(campaign=obj, destination=destination, object_id=object_id)


def jpeg_bytes(size: tuple[int, int] = (1080, 1080), color: str = "steelblue") -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", size, color).save(buffer, "JPEG")
    return buffer.getvalue()


def add_image(campaign: Campaign, size: tuple[int, int] = (1080, 1080)) -> CampaignImage:
    from campaigns.images import PreparedImage
    from campaigns.services import campaign_image_add

    return campaign_image_add(campaign=campaign, prepared=PreparedImage(jpeg_bytes(size), *size))
