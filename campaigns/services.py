"""Writes on campaigns, their images and AI image generations.

Pages, the admin, the API and Celery tasks all come through here, so each rule lives once. Runs
of a campaign (executions and their steps) are in ``executions``.
"""

import logging
import re
from dataclasses import dataclass
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from billing.plans import Limit
from billing.services import ai_image_record_usage, limit_check
from integrations.http import ProviderError
from integrations.openai import client as openai_client
from marketing import outbox
from marketing.models import MANAGER_ROLES, Membership, User, Workspace

from . import destinations, images
from .captions import MAX_ALT_TEXT_CHARS, MAX_HASHTAGS, normalize_hashtags, post_problems
from .models import (
    Campaign,
    CampaignComment,
    CampaignImage,
    CampaignStatus,
    CampaignStatusChange,
    CampaignTarget,
    ExecutionStatus,
    GenerationStatus,
    HashtagGroup,
    ImageGeneration,
    ImageSource,
    PostFormat,
)

logger = logging.getLogger(__name__)

MAX_IMAGES = 10


def image_limit(format: str) -> int:
    """How many images a campaign of this format holds: a carousel's ten, or a story's one."""
    return 1 if format == PostFormat.STORY else MAX_IMAGES


def _check_format(campaign: Campaign) -> None:
    """A story holds one image, and a feed post none taller than 4:5 (a story's may be 9:16)."""
    if campaign.format not in PostFormat.values:
        raise ValidationError({"format": f"“{campaign.format}” is not a format: post or story."})
    ordered = list(campaign.images.order_by("position", "id")) if campaign.pk else []
    publishable = [image for image in ordered if image.publishable]
    if campaign.format == PostFormat.STORY and len(publishable) > 1:
        raise ValidationError(
            {"format": f"A story holds one image and this campaign has {len(publishable)}: remove all but one first."}
        )
    if campaign.format == PostFormat.POST:
        for number, image in enumerate(ordered, 1):
            # A size of 0 is an image stored before sizes were: it was checked as a feed image.
            if image.height and not images.fits(width=image.width, height=image.height):
                raise ValidationError(
                    {"format": f"Image {number} is {image.width}×{image.height}, taller than a feed post takes. "
                     f"{images.accepted_ratios()} Remove it first, or keep it a story."}
                )

S = CampaignStatus
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    S.DRAFT: frozenset({S.SCHEDULED, S.ACTIVE, S.COMPLETED, S.FAILED, S.ARCHIVED}),
    S.SCHEDULED: frozenset({S.DRAFT, S.ACTIVE, S.PAUSED, S.COMPLETED, S.FAILED, S.ARCHIVED}),
    S.ACTIVE: frozenset({S.DRAFT, S.PAUSED, S.COMPLETED, S.FAILED, S.ARCHIVED}),
    S.PAUSED: frozenset({S.DRAFT, S.SCHEDULED, S.ACTIVE, S.ARCHIVED}),
    S.COMPLETED: frozenset({S.DRAFT, S.SCHEDULED, S.ACTIVE, S.FAILED, S.ARCHIVED}),
    S.FAILED: frozenset({S.DRAFT, S.SCHEDULED, S.ACTIVE, S.COMPLETED, S.ARCHIVED}),
    S.ARCHIVED: frozenset({S.DRAFT}),
}


class IllegalTransition(ValidationError):
    def __init__(self, campaign: Campaign, to: str) -> None:
        allowed = ", ".join(sorted(S(s).label.lower() for s in ALLOWED_TRANSITIONS[campaign.status])) or "nothing"
        super().__init__(
            f"A {S(campaign.status).label.lower()} campaign cannot become {S(to).label.lower()}; "
            f"it can become: {allowed}.",
            code="illegal_transition",
        )


def can_transition(campaign: Campaign, to: str) -> bool:
    return to in ALLOWED_TRANSITIONS[campaign.status]


@transaction.atomic
def campaign_transition(
    *, campaign: Campaign, to: str, by: User | None = None, via: str = "page", note: str = ""
) -> Campaign:
    """Moves a campaign to status ``to`` if the status machine allows it, and records the change."""
    locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if not can_transition(locked, to):
        raise IllegalTransition(locked, to)
    CampaignStatusChange.objects.create(
        campaign=locked, from_status=locked.status, to_status=to, by=by, via=via, note=note[:300]
    )
    Campaign.objects.filter(pk=locked.pk).update(status=to, updated_at=timezone.now())
    campaign.status = to
    return campaign


def _check_caption(*, caption: str, hashtags: str, first_comment: str = "") -> None:
    problems = post_problems(caption=caption, hashtags=hashtags, first_comment=first_comment)
    if problems:
        raise ValidationError(problems)


@transaction.atomic
def campaign_create(
    *,
    workspace: Workspace,
    by: User | None,
    name: str,
    brief: str = "",
    caption: str = "",
    hashtags: str = "",
    first_comment: str = "",
    format: str = PostFormat.POST,
    targets: list[str] | tuple[str, ...] = (),
) -> Campaign:
    """Creates a campaign; ``targets`` are destination keys (``"instagram:7"``, see destinations.py)."""
    _check_caption(caption=caption, hashtags=hashtags, first_comment=first_comment)
    limit_check(workspace=workspace, limit=Limit.CAMPAIGNS)
    campaign = Campaign(
        workspace=workspace,
        name=name.strip(),
        brief=brief.strip(),
        caption=caption.strip(),
        hashtags=normalize_hashtags(hashtags),
        first_comment=first_comment.strip(),
        format=format,
        created_by=by,
        updated_by=by,
    )
    _check_format(campaign)
    campaign.full_clean()
    pairs = destinations.targets_validate(workspace=workspace, keys=targets)
    campaign.save()
    _targets_set(campaign, pairs)
    return campaign


def _targets_set(campaign: Campaign, pairs: list[tuple[str, int]]) -> None:
    """Makes the campaign's targets exactly ``pairs``; targets kept keep their rows."""
    existing = {(t.destination, t.object_id): t for t in campaign.targets.all()}
    stale = [t.pk for pair, t in existing.items() if pair not in pairs]
    if stale:
        CampaignTarget.objects.filter(pk__in=stale).delete()
    CampaignTarget.objects.bulk_create(
        CampaignTarget(campaign=campaign, destination=destination, object_id=object_id)
        for destination, object_id in pairs
        if (destination, object_id) not in existing
    )


EDITABLE_FIELDS = ("name", "brief", "caption", "hashtags", "first_comment", "format")


@transaction.atomic
def campaign_update(
    *,
    campaign: Campaign,
    by: User | None,
    targets: list[str] | tuple[str, ...] | None = None,
    image_alt_texts: list[str] | None = None,
    **fields,
) -> Campaign:
    """Changes the given fields; ``targets`` (destination keys), when given, replaces all targets;
    ``image_alt_texts``, when given, is one alt text per image in carousel order."""
    if campaign.status == CampaignStatus.ARCHIVED:
        raise ValidationError("Archived campaigns cannot be edited. Restore it to a draft first.")
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown fields: {', '.join(sorted(unknown))}.")
    pairs = None if targets is None else destinations.targets_validate(workspace=campaign.workspace, keys=targets)
    format_before = campaign.format
    for name, value in fields.items():
        if isinstance(value, str):
            value = normalize_hashtags(value) if name == "hashtags" else value.strip()
        setattr(campaign, name, value)
    _check_caption(caption=campaign.caption, hashtags=campaign.hashtags, first_comment=campaign.first_comment)
    campaign.updated_by = by
    if campaign.format != format_before:
        _check_format(campaign)
    campaign.full_clean()
    campaign.save()
    if pairs is not None:
        _targets_set(campaign, pairs)
    if image_alt_texts is not None:
        ordered = list(campaign.images.order_by("position", "id"))
        if len(image_alt_texts) != len(ordered):
            raise ValidationError(
                {"image_alt_texts": f"The campaign has {len(ordered)} image{'s' if len(ordered) != 1 else ''}: "
                 "give one alt text for each, in carousel order (\"\" for none)."}
            )
        try:
            campaign_images_describe(campaign=campaign, alt_texts=dict(zip([image.pk for image in ordered], image_alt_texts)))
        except ValidationError as error:
            raise ValidationError({"image_alt_texts": error.messages}) from None
    return campaign


@transaction.atomic
def campaign_duplicate(*, campaign: Campaign, by: User | None) -> Campaign:
    """A draft copy with the same texts and copies of the images."""
    copy = campaign_create(
        workspace=campaign.workspace,
        by=by,
        name=f"Copy of {campaign.name}"[:200],
        brief=campaign.brief,
        caption=campaign.caption,
        hashtags=campaign.hashtags,
        first_comment=campaign.first_comment,
        format=campaign.format,
    )
    CampaignTarget.objects.bulk_create(
        CampaignTarget(campaign=copy, destination=t.destination, object_id=t.object_id) for t in campaign.targets.all()
    )
    for image in campaign.images.all():
        with image.file.open("rb") as source:
            content = source.read()
        _image_create(
            campaign=copy,
            prepared=images.PreparedImage(content=content, width=image.width, height=image.height),
            position=image.position,
            source=image.source,
            prompt=image.prompt,
            model=image.model,
            fallback_reason=image.fallback_reason,
            alt_text=image.alt_text,
        )
    return copy


def campaign_archive(*, campaign: Campaign, by: User | None, via: str = "page") -> Campaign:
    return campaign_transition(campaign=campaign, to=CampaignStatus.ARCHIVED, by=by, via=via)


@transaction.atomic
def campaign_delete(*, campaign: Campaign, by: User | None) -> None:
    """Deletes a campaign, its images' files once committed, and its history."""
    if campaign.executions.filter(status=ExecutionStatus.RUNNING).exists():
        raise ValidationError("A run of this campaign is in progress. Cancel it or wait for it to finish.")
    paths = [path for image in campaign.images.all() for path in image.stored_paths]
    storage = CampaignImage._meta.get_field("file").storage
    campaign.delete()
    transaction.on_commit(lambda: [storage.delete(path) for path in paths])
    logger.info("campaign deleted", extra={"campaign_id": campaign.pk, "by": getattr(by, "pk", None)})


# What the campaign list does to the campaigns ticked in it: the same services as one campaign's page.
BULK_ACTIONS = {
    "pause": ("Pause", "paused"),
    "activate": ("Activate", "activated"),
    "archive": ("Archive", "archived"),
    "queue": ("Add to queue", "queued"),
    "request_approval": ("Ask for approval", "sent for approval"),
    "approve": ("Approve", "approved"),
    "delete": ("Delete", "deleted"),
}
BULK_ACTION_CHOICES = [(key, label) for key, (label, _) in BULK_ACTIONS.items()]
APPROVAL_ACTIONS = frozenset({"request_approval", "approve"})
BULK_MAX = 100


def bulk_action_choices(*, workspace: Workspace) -> list[tuple[str, str]]:
    """What the list offers to do with ticked campaigns: the approval actions only where approval is required."""
    if workspace.require_approval:
        return BULK_ACTION_CHOICES
    return [(key, label) for key, label in BULK_ACTION_CHOICES if key not in APPROVAL_ACTIONS]


@dataclass
class BulkOutcome:
    done: list[Campaign]
    refused: list[tuple[Campaign, str]]  # each with why, in the words of the service that refused it


def campaign_bulk_apply(*, workspace: Workspace, ids: list[int], action: str, by: User | None) -> BulkOutcome:
    """Applies ``action`` to each of the workspace's campaigns among ``ids``, each on its own: one
    refused (a transition the status machine forbids, a run in progress) leaves the others done."""
    if action not in BULK_ACTIONS:
        raise ValidationError(f"Unknown action: {action}.")
    if len(ids) > BULK_MAX:
        raise ValidationError(f"Select at most {BULK_MAX} campaigns at a time.")
    from . import approval  # approval builds on this module

    approver = None
    if action == "approve":
        approver = Membership.objects.filter(workspace=workspace, user=by).first()
        if approver is None or approver.role not in MANAGER_ROLES:
            raise ValidationError("Only owners and admins can approve campaigns.")
    outcome = BulkOutcome(done=[], refused=[])
    for campaign in Campaign.objects.filter(workspace=workspace, pk__in=ids).select_related("workspace").order_by("name", "pk"):
        try:
            with transaction.atomic():
                if action == "approve":
                    approval.campaign_approve(campaign=campaign, by=approver)
                elif action == "request_approval":
                    approval.campaign_approval_request(campaign=campaign, by=by, notify=False)
                elif action == "delete":
                    campaign_delete(campaign=campaign, by=by)
                elif action == "archive":
                    campaign_archive(campaign=campaign, by=by)
                elif action == "queue":
                    from .scheduling import campaign_queue  # scheduling builds on this module

                    campaign_queue(campaign=campaign, by=by)
                else:
                    to = CampaignStatus.PAUSED if action == "pause" else CampaignStatus.ACTIVE
                    campaign_transition(campaign=campaign, to=to, by=by)
        except ValidationError as error:
            outcome.refused.append((campaign, " ".join(error.messages)))
        else:
            outcome.done.append(campaign)
    if action == "request_approval":
        approval.approval_requests_notify(outcome.done)
    return outcome


MAX_COMMENT_CHARS = 2000


def comment_add(*, campaign: Campaign, by: User, body: str) -> CampaignComment:
    body = body.strip()
    if not body:
        raise ValidationError({"body": "Write something first."})
    if len(body) > MAX_COMMENT_CHARS:
        raise ValidationError({"body": f"Keep it under {MAX_COMMENT_CHARS:,} characters ({len(body):,} now)."})
    comment = CampaignComment.objects.create(workspace_id=campaign.workspace_id, campaign=campaign, author=by, body=body)
    from .tasks import send_comment_notification

    outbox.send_on_commit(send_comment_notification, comment.pk)
    return comment


# A mention is ``@`` and a handle: the part of a member's email before its ``@`` or, when two
# members share that part, the whole address. Not right after a letter or digit, so an email
# address in the text mentions no one; a sentence's last full stop is not part of the handle.
MENTION_HANDLE = r"[\w+-]+(?:\.[\w+-]+)*(?:@[\w-]+(?:\.[\w-]+)+)?"
MENTION_RE = re.compile(rf"(?<![\w.+@-])@({MENTION_HANDLE})")
_HANDLE_RE = re.compile(MENTION_HANDLE)


def mentioned_handles(body: str) -> set[str]:
    """The handles ``body`` mentions, lower-cased; whether they name anyone is for a directory to say."""
    return {match.group(1).lower() for match in MENTION_RE.finditer(body)}


def _handles_to_users(*, emails: dict[int, str]) -> dict[str, int]:
    """Each handle that names exactly one of these users (user id -> email), lower-cased, to its user.

    Every user has two handles: the email's part before the ``@`` and the whole address. A handle
    two users share (bob@a.com and Bob@b.com both own "bob") names neither, so a mention never
    reaches the wrong person; each can still be mentioned by the whole address.
    """
    owners: dict[str, set[int]] = {}
    for user_id, email in emails.items():
        email = email.lower()
        for handle in (email.rpartition("@")[0], email):
            owners.setdefault(handle, set()).add(user_id)
    # An address the mention syntax cannot spell (a quote in it) gives no handle rather than a dead one.
    return {handle: next(iter(ids)) for handle, ids in owners.items() if len(ids) == 1 and _HANDLE_RE.fullmatch(handle)}


def _active_members(*, workspace_id: int) -> list[tuple[int, str, bool]]:
    """(user id, email, wants comment emails) of the workspace's active members, in one query."""
    return list(
        Membership.objects.filter(workspace_id=workspace_id, user__is_active=True).values_list(
            "user_id", "user__email", "user__notify_comments"
        )
    )


def mention_directory(*, workspace_id: int) -> dict[str, int]:
    """The handles that mention someone in the workspace (only its active members), to their user ids."""
    return _handles_to_users(emails={user_id: email for user_id, email, _ in _active_members(workspace_id=workspace_id)})


@dataclass(frozen=True)
class CommentRecipient:
    email: str
    mentioned: bool


def comment_recipients(*, comment: CampaignComment) -> list[CommentRecipient]:
    """Who hears of a new comment, one entry per person, by email.

    The members it mentions, even those who turned comment emails off: a mention is a teammate's
    direct request, and that setting is about following the campaigns one wrote, asked to approve
    or commented on. Then those followers, when they want these emails. Only active members of
    the campaign's workspace, and never the comment's author, mention of themselves or not.
    """
    campaign = comment.campaign
    followers = {campaign.created_by_id, campaign.approval_requested_by_id}
    followers |= set(
        CampaignComment.objects.filter(campaign=campaign, workspace_id=campaign.workspace_id).values_list("author_id", flat=True)
    )
    members = _active_members(workspace_id=campaign.workspace_id)
    directory = _handles_to_users(emails={user_id: email for user_id, email, _ in members})
    mentioned = {directory[handle] for handle in mentioned_handles(comment.body) if handle in directory}
    recipients = [
        CommentRecipient(email=email, mentioned=user_id in mentioned)
        for user_id, email, wants_emails in members
        if user_id != comment.author_id and (user_id in mentioned or (user_id in followers and wants_emails))
    ]
    return sorted(recipients, key=lambda recipient: recipient.email)


def comment_delete(*, comment: CampaignComment, by: Membership) -> None:
    """Its author deletes a comment, or an owner or admin does."""
    if comment.author_id != by.user_id and by.role not in MANAGER_ROLES:
        raise ValidationError("Only its author, an owner or an admin can delete a comment.")
    comment.delete()


MAX_HASHTAG_GROUPS = 100


def hashtag_group_save(*, workspace: Workspace, name: str, hashtags: str, group: HashtagGroup | None = None) -> HashtagGroup:
    """Creates a group (``group`` None) or changes one; the hashtags are kept normalised (``#a #b``)."""
    name = name.strip()
    tags = normalize_hashtags(hashtags)
    if not name:
        raise ValidationError({"name": "Give the group a name."})
    if not tags:
        raise ValidationError({"hashtags": "Add at least one hashtag."})
    count = len(tags.split())
    if count > MAX_HASHTAGS:
        raise ValidationError({"hashtags": f"{count} hashtags; Instagram allows {MAX_HASHTAGS} on a post."})
    others = HashtagGroup.objects.filter(workspace=workspace).exclude(pk=group.pk if group else None)
    if others.filter(name__iexact=name).exists():
        raise ValidationError({"name": f"There is already a group named “{name}”."})
    if group is None and others.count() >= MAX_HASHTAG_GROUPS:
        raise ValidationError(f"A workspace keeps up to {MAX_HASHTAG_GROUPS} hashtag groups: delete one first.")
    group = group or HashtagGroup(workspace=workspace)
    group.name, group.hashtags = name, tags
    try:
        with transaction.atomic():
            group.save()
    except IntegrityError:  # the same name saved at the same moment
        raise ValidationError({"name": f"There is already a group named “{name}”."}) from None
    return group


def hashtag_group_delete(*, group: HashtagGroup) -> None:
    """Deletes the group; campaigns keep the hashtags they took from it."""
    group.delete()


def _image_create(
    *,
    campaign: Campaign,
    prepared: images.PreparedImage,
    source: str,
    position: int | None = None,
    prompt: str = "",
    model: str = "",
    fallback_reason: str = "",
    alt_text: str = "",
) -> CampaignImage:
    if position is None:
        last = campaign.images.aggregate(last=Max("position"))["last"]
        position = 0 if last is None else last + 1
    image = CampaignImage(
        campaign=campaign,
        position=position,
        width=prepared.width,
        height=prepared.height,
        source=source,
        prompt=prompt,
        model=model,
        fallback_reason=fallback_reason[:300],
        alt_text=alt_text,
    )
    image.file.save("image.jpg", ContentFile(prepared.content), save=False)
    image.thumbnail.save("thumb.jpg", ContentFile(images.thumbnail(prepared.content)), save=False)
    image.save()
    return image


def campaign_image_thumbnail(*, image: CampaignImage) -> CampaignImage:
    """Makes the image's thumbnail if it has none yet (images stored before thumbnails were)."""
    if not image.thumbnail:
        with image.file.open("rb") as stored:
            content = stored.read()
        image.thumbnail.save("thumb.jpg", ContentFile(images.thumbnail(content)), save=False)
        # Two first views at once each made one: the row keeps the first, the other file goes.
        if not CampaignImage.objects.filter(pk=image.pk, thumbnail="").update(thumbnail=image.thumbnail.name):
            image.thumbnail.delete(save=False)
            image.refresh_from_db(fields=["thumbnail"])
    return image


def _check_room(campaign: Campaign) -> None:
    # A placeholder is only a stand-in in the editor, never published: it takes no room.
    if campaign.images.exclude(source=ImageSource.PLACEHOLDER).count() >= image_limit(campaign.format):
        if campaign.format == PostFormat.STORY:
            raise ValidationError("A story holds one image. Remove it first, or make the campaign a feed post.")
        raise ValidationError(f"A campaign holds at most {MAX_IMAGES} images (Instagram's carousel limit). Remove one first.")


@transaction.atomic
def campaign_image_add(
    *,
    campaign: Campaign,
    prepared: images.PreparedImage,
    source: str = ImageSource.UPLOAD,
    prompt: str = "",
    model: str = "",
    fallback_reason: str = "",
) -> CampaignImage:
    """Appends an Instagram-ready JPEG to the campaign (at most ten, for a carousel)."""
    Campaign.objects.select_for_update().filter(pk=campaign.pk).first()
    _check_room(campaign)
    story = campaign.format == PostFormat.STORY
    if not images.fits(width=prepared.width, height=prepared.height, story=story):
        raise ValidationError(f"This image is {prepared.width}×{prepared.height}. {images.accepted_ratios(story=story)}")
    return _image_create(
        campaign=campaign, prepared=prepared, source=source, prompt=prompt, model=model, fallback_reason=fallback_reason
    )


@transaction.atomic
def campaign_image_remove(*, image: CampaignImage) -> None:
    campaign, paths = image.campaign, image.stored_paths
    storage = image.file.storage
    image.delete()
    for position, remaining in enumerate(campaign.images.all()):
        if remaining.position != position:
            CampaignImage.objects.filter(pk=remaining.pk).update(position=position)
    transaction.on_commit(lambda: [storage.delete(path) for path in paths])


@transaction.atomic
def campaign_image_move(*, image: CampaignImage, offset: int) -> None:
    """Moves an image earlier (-1) or later (+1) in the carousel."""
    ordered = list(image.campaign.images.select_for_update().order_by("position", "id"))
    index = next(i for i, other in enumerate(ordered) if other.pk == image.pk)
    target = index + offset
    if not 0 <= target < len(ordered):
        return
    ordered[index], ordered[target] = ordered[target], ordered[index]
    for position, other in enumerate(ordered):
        CampaignImage.objects.filter(pk=other.pk).update(position=position)


def campaign_images_describe(*, campaign: Campaign, alt_texts: dict[int, str]) -> int:
    """Sets the alt text of the campaign's images, by image id; returns how many changed.

    An id that is not one of this campaign's images is refused, as the form and the API only
    offer the campaign's own (one removed meanwhile included: the marketer is told, nothing is kept).
    """
    if campaign.status == CampaignStatus.ARCHIVED:
        raise ValidationError("Archived campaigns cannot be edited. Restore it to a draft first.")
    stored = {image.pk: image for image in campaign.images.filter(pk__in=list(alt_texts))}
    if missing := [pk for pk in alt_texts if pk not in stored]:
        raise ValidationError(
            f"{len(missing)} of these images {'is' if len(missing) == 1 else 'are'} no longer in the campaign; "
            "reload the page to see its images."
        )
    changed, problems = [], []
    for pk, text in alt_texts.items():
        image = stored[pk]
        text = " ".join(text.split())  # one line: screen readers read it as a sentence
        if "\x00" in text:
            problems.append(f"Image {image.position + 1}: the alt text holds a NUL character.")
        elif len(text) > MAX_ALT_TEXT_CHARS:
            problems.append(
                f"Image {image.position + 1}: the alt text is {len(text):,} characters; at most {MAX_ALT_TEXT_CHARS:,}."
            )
        elif text != image.alt_text:
            image.alt_text = text
            changed.append(image)
    if problems:
        raise ValidationError(problems)
    CampaignImage.objects.bulk_update(changed, ["alt_text"])
    return len(changed)


# AI images -------------------------------------------------------------------------------------


def image_prompt(campaign: Campaign) -> str:
    brief = campaign.brief or campaign.caption or campaign.name
    return f"An Instagram post image for the campaign '{campaign.name}'. {brief}".strip()


@transaction.atomic
def image_generation_request(*, campaign: Campaign, by: User | None) -> ImageGeneration:
    """Queues an AI image for the campaign; the page polls the returned generation."""
    from django.conf import settings

    if campaign.status == CampaignStatus.ARCHIVED:
        raise ValidationError("Archived campaigns cannot get new images.")
    _check_room(campaign)
    in_progress = campaign.generations.filter(status__in=[GenerationStatus.QUEUED, GenerationStatus.RUNNING]).first()
    if in_progress is not None:
        return in_progress
    limit_check(workspace=campaign.workspace_id, limit=Limit.AI_IMAGES_PER_MONTH)
    generation = ImageGeneration.objects.create(
        campaign=campaign, prompt=image_prompt(campaign), model=settings.OPENAI_IMAGE_MODEL, requested_by=by
    )
    from .tasks import generate_image

    outbox.send_on_commit(generate_image, generation.pk)
    return generation


def image_generation_run(*, generation_id: int, fallback: bool = True) -> ImageGeneration | None:
    """Generates the image with OpenAI, or draws a placeholder and says why.

    A moderation refusal is final and draws nothing: the brief has to change. With
    ``fallback=False`` (a run's generation) nothing is drawn either: the generation is marked
    failed and the ProviderError is raised for the run to retry or fail.
    """
    claimed = ImageGeneration.objects.filter(pk=generation_id, status=GenerationStatus.QUEUED).update(
        status=GenerationStatus.RUNNING, started_at=timezone.now()
    )
    generation = ImageGeneration.objects.select_related("campaign").filter(pk=generation_id).first()
    if generation is None or not claimed:
        return generation
    campaign = generation.campaign
    try:
        raw = openai_client.generate_image(prompt=generation.prompt, model=generation.model)
        prepared = images.prepare_generated(raw)
        source, reason = ImageSource.AI, ""
        status = GenerationStatus.SUCCEEDED
    except openai_client.ModerationRefused as error:
        detail = error.detail.rstrip(".") or "its safety system said no"
        _generation_finish(
            generation, GenerationStatus.REFUSED, f"OpenAI refused the brief: {detail}. Change the brief and try again."
        )
        return generation
    except (ProviderError, ValidationError) as error:
        if not fallback:
            _generation_finish(generation, GenerationStatus.FAILED, _failure_reason(error))
            raise
        reason = _fallback_reason(error)
        prepared = images.draw_placeholder(title=campaign.name, subtitle=campaign.brief or campaign.caption)
        source, status = ImageSource.PLACEHOLDER, GenerationStatus.FELL_BACK
        logger.warning("image generation fell back", extra={"campaign_id": campaign.pk, "reason": reason})
    with transaction.atomic():
        try:
            image = campaign_image_add(
                campaign=campaign,
                prepared=prepared,
                source=source,
                prompt=generation.prompt,
                model=generation.model if source == ImageSource.AI else "",
                fallback_reason=reason,
            )
        except ValidationError as error:
            image, status, reason = None, GenerationStatus.FELL_BACK, " ".join(error.messages)
        generation.image = image
        _generation_finish(generation, status, reason)
        if status == GenerationStatus.SUCCEEDED:
            ai_image_record_usage(generation=generation)
    return generation


def _generation_finish(generation: ImageGeneration, status: str, reason: str) -> None:
    generation.status = status
    generation.fallback_reason = reason[:300]
    generation.finished_at = timezone.now()
    generation.save(update_fields=["image", "status", "fallback_reason", "finished_at"])


def _failure_reason(error: Exception) -> str:
    if isinstance(error, ProviderError):
        return error.message
    return f"OpenAI's image could not be used ({' '.join(getattr(error, 'messages', [str(error)]))})."


def _fallback_reason(error: Exception) -> str:
    if isinstance(error, openai_client.NotConfigured):
        return "No OpenAI key is configured (OPENAI_API_KEY), so a placeholder was drawn."
    if isinstance(error, ProviderError):
        return f"{error.message.rstrip('.')}; a placeholder was drawn instead."
    return f"OpenAI's image could not be used ({' '.join(getattr(error, 'messages', [str(error)]))})."


# A generation no worker took within this time lost its task; one running this long lost its worker.
GENERATION_LOST_AFTER = timedelta(minutes=2)
GENERATION_ABANDONED_AFTER = timedelta(minutes=10)


def image_generation_recover_stale() -> int:
    """Requeues image generations whose task was lost or whose worker died, so none waits forever."""
    from .tasks import generate_image

    now = timezone.now()
    ImageGeneration.objects.filter(
        status=GenerationStatus.RUNNING, started_at__lt=now - GENERATION_ABANDONED_AFTER
    ).update(status=GenerationStatus.QUEUED)
    stale = list(
        ImageGeneration.objects.filter(status=GenerationStatus.QUEUED, created_at__lt=now - GENERATION_LOST_AFTER)
        .order_by("pk")
        .values_list("pk", flat=True)[:200]
    )
    if stale:
        outbox.send_many(generate_image, [(generation_id,) for generation_id in stale])
        logger.warning("requeued stale image generations", extra={"count": len(stale)})
    return len(stale)
