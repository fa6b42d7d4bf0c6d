"""A campaign published to a WordPress site: its images into the media library, then one post.

Everything done is recorded on the run's publish step as it happens (media ids, then the post),
and what an attempt created is found again by the marker in its slug and file names, so a retry
after a lost answer neither uploads twice nor creates the post twice.
"""

from __future__ import annotations

from django.template.loader import render_to_string

from campaigns.captions import normalize_hashtags
from campaigns.destinations import RetryLater, StepFailed, StepOutcome
from campaigns.executions import step_record_result, step_save_state
from campaigns.models import CampaignExecution, ErrorCategory, ExecutionStep
from campaigns.selectors import publishable_images

from . import wordpress
from .models import ContentSource, PostStatus, SourceKind

STATE_KEY = "wordpress"
MAX_TAGS = 20


def marker(execution: CampaignExecution, step: ExecutionStep) -> str:
    return f"{wordpress.MARKER_PREFIX}{execution.uuid.hex[:12]}-{step.position}"


def post_content(caption: str, images: list[tuple[str, str]]) -> str:
    """The caption as paragraphs, then the images after the first (the first is the featured
    image), each given as (URL, alt text)."""
    paragraphs = [part.strip() for part in caption.replace("\r\n", "\n").split("\n\n") if part.strip()]
    return render_to_string("cms/wordpress_post.html", {"paragraphs": paragraphs, "images": images}).strip()


def publish(*, execution: CampaignExecution, step: ExecutionStep, site: ContentSource) -> StepOutcome:
    """Uploads the campaign's images and creates its post on ``site``; safe to call again after any failure."""
    if site.kind != SourceKind.WORDPRESS or not (site.wp_username and site.wp_app_password):
        raise StepFailed(
            f"“{site.name}” has no WordPress user name and application password: add them on its source page.",
            category=ErrorCategory.AUTH,
        )
    state = dict(step.state.get(STATE_KEY, {}))
    if state.get("post_id"):
        return _done(state)
    auth = {"base_url": site.url, "username": site.wp_username, "password": site.wp_app_password}
    campaign = execution.campaign
    mark = marker(execution, step)

    def save(**changes) -> None:
        state.update(changes)
        step_save_state(step, **{STATE_KEY: dict(state)})

    try:
        media: list[dict] = list(state.get("media", []))
        for number, image in enumerate(publishable_images(campaign=campaign)):
            if number < len(media):
                continue
            name = f"{mark}-{number + 1}"
            # Only an upload that was started and never recorded can be on the site already.
            found = wordpress.find_media(name=name, **auth) if state.get("uploading") == number else None
            if found is None:
                save(uploading=number)
                with image.file.open("rb") as file:
                    content = file.read()
                found = wordpress.upload_media(name=name, content=content, alt=image.alt_text or campaign.name, **auth)
            media.append({"id": found.id, "url": found.link, "alt": image.alt_text})
            save(media=media, uploading=None)
        post = wordpress.find_post(slug=mark, **auth) if state.get("creating") else None
        if post is None:
            categories = (
                wordpress.term_ids(taxonomy="categories", names=[site.wp_category], **auth) if site.wp_category else []
            )
            tag_names = [tag.lstrip("#") for tag in normalize_hashtags(campaign.hashtags).split()][:MAX_TAGS]
            tags = wordpress.term_ids(taxonomy="tags", names=tag_names, **auth) if tag_names else []
            fields = {
                "title": campaign.name,
                "content": post_content(campaign.caption, [(m["url"], m.get("alt", "")) for m in media[1:]]),
                "status": site.wp_post_status,
                "slug": mark,
                "categories": categories,
                "tags": tags,
            }
            if media:
                fields["featured_media"] = media[0]["id"]
            save(creating=True)
            post = wordpress.create_post(fields=fields, **auth)
        save(post_id=post.id, link=post.link, status=site.wp_post_status)
        step_record_result(step, external_id=str(post.id), external_url=post.link)
    except wordpress.WordPressError as error:
        if error.retryable:
            raise RetryLater(error.message) from None
        category = ErrorCategory.AUTH if error.status in (401, 403) else ErrorCategory.PROVIDER
        raise StepFailed(error.message, category=category) from None
    return _done(state)


def _done(state: dict) -> StepOutcome:
    verb = "Published on" if state.get("status") == PostStatus.PUBLISH else "Draft created on"
    images = len(state.get("media", []))
    return StepOutcome(
        detail=f"{verb} WordPress: post {state['post_id']}, {state.get('link', '')} "
        f"({images} image{'s' if images != 1 else ''} in the media library)."
    )
