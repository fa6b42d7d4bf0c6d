"""@mentions in comments: a member's handle (their email before the @, or the whole address when
two members share that part) emails them the comment and is highlighted in the thread."""

import pytest

from campaigns import services
from marketing.models import Membership
from tests.factories import CampaignFactory, MembershipFactory, UserFactory


@pytest.fixture
def campaign(alice_workspace, alice):
    """Alice's campaign: without a mention, Bob hears of nothing on it."""
    return CampaignFactory(workspace=alice_workspace, name="Spring sale", created_by=alice)


@pytest.fixture
def add(django_capture_on_commit_callbacks, campaign, alice):
    """Alice comments, and the emails go out as after the commit."""

    def add(body: str, by=alice):
        with django_capture_on_commit_callbacks(execute=True):
            return services.comment_add(campaign=campaign, by=by, body=body)

    return add


def test_it_emails_a_mentioned_member_who_would_not_hear_otherwise(add, bob, mailoutbox, campaign):
    add("@bob can you check the image?")

    [mail] = mailoutbox
    assert mail.to == ["bob@example.com"]
    assert mail.subject == f"alice mentioned you on “{campaign.name}”"
    assert "alice@example.com mentioned you in a comment on" in mail.body
    assert "@bob can you check the image?" in mail.body


def test_it_tells_a_follower_without_a_mention_that_someone_commented(add, bob, mailoutbox, campaign):
    add("First look.", by=bob)

    add("Thanks!")

    assert [(mail.to, mail.subject) for mail in mailoutbox] == [
        (["alice@example.com"], f"bob commented on “{campaign.name}”"),
        (["bob@example.com"], f"alice commented on “{campaign.name}”"),
    ]


def test_it_matches_a_handle_whatever_its_case_and_without_the_full_stop_after_it(add, bob, mailoutbox):
    add("Over to you, @Bob.")

    assert [mail.to for mail in mailoutbox] == [["bob@example.com"]]


def test_it_ignores_an_outsiders_handle(add, charlie, mailoutbox):
    add("@charlie have a look")

    assert mailoutbox == []


def test_it_ignores_a_removed_member(add, bob, mailoutbox, alice_workspace):
    Membership.objects.filter(user=bob, workspace=alice_workspace).delete()

    add("@bob have a look")

    assert mailoutbox == []


def test_it_ignores_a_deactivated_member(add, bob, mailoutbox):
    bob.is_active = False
    bob.save(update_fields=["is_active"])

    add("@bob have a look")

    assert mailoutbox == []


def test_it_takes_no_email_address_for_a_mention(add, bob, mailoutbox):
    add("Send the invoice to accounts@bob")

    assert mailoutbox == []


def test_it_emails_a_mentioned_follower_once_saying_they_were_mentioned(add, bob, mailoutbox, campaign):
    add("I think the caption is long.", by=bob)  # Bob follows the campaign now

    add("@bob agreed, and @BOB see the image too, @bob@example.com")

    [mail] = mailoutbox[1:]
    assert mail.to == ["bob@example.com"]
    assert mail.subject == f"alice mentioned you on “{campaign.name}”"


def test_it_sends_nothing_for_a_mention_of_oneself(add, mailoutbox):
    add("@alice remember to check the hashtags")

    assert mailoutbox == []


def test_it_emails_a_mention_to_a_member_who_turned_comment_emails_off(add, bob, mailoutbox):
    bob.notify_comments = False
    bob.save(update_fields=["notify_comments"])

    add("@bob this one needs you")

    assert [mail.to for mail in mailoutbox] == [["bob@example.com"]]


def test_it_matches_no_one_by_a_handle_two_members_share(add, bob, alice_workspace, mailoutbox):
    MembershipFactory(workspace=alice_workspace, user=UserFactory(email="Bob@other.example"))

    add("@bob have a look")

    assert mailoutbox == []


def test_it_reaches_one_of_two_members_sharing_a_handle_by_their_whole_address(add, bob, alice_workspace, mailoutbox):
    MembershipFactory(workspace=alice_workspace, user=UserFactory(email="Bob@other.example"))

    add("@bob@other.example have a look")

    assert [mail.to for mail in mailoutbox] == [["Bob@other.example"]]


def test_it_highlights_a_mention_and_escapes_the_rest_of_the_comment(add, bob, alice_client, campaign):
    add("<script>alert(1)</script> @bob & @charlie <b>now</b>")

    page = alice_client.get(f"/campaigns/{campaign.pk}/").content.decode()

    assert (
        '<p class="pre-line">&lt;script&gt;alert(1)&lt;/script&gt; <span class="mention">@bob</span> &amp; @charlie '
        "&lt;b&gt;now&lt;/b&gt;</p>"
    ) in page
    assert "<script>alert(1)" not in page


def test_it_escapes_a_handle_that_reads_as_markup(add, alice_workspace, alice_client, campaign):
    MembershipFactory(workspace=alice_workspace, user=UserFactory(email="o'neil@example.com"))
    MembershipFactory(workspace=alice_workspace, user=UserFactory(email="x-y@example.com"))

    add("@x-y and @o'neil")

    page = alice_client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert '<p class="pre-line"><span class="mention">@x-y</span> and @o&#x27;neil</p>' in page


def test_it_highlights_no_handle_two_members_share(add, bob, alice_workspace, alice_client, campaign):
    MembershipFactory(workspace=alice_workspace, user=UserFactory(email="bob@other.example"))

    add("@bob have a look")

    page = alice_client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert '<p class="pre-line">@bob have a look</p>' in page


def test_it_says_under_the_comment_box_how_to_mention_and_whom(bob, alice_client, campaign, alice_workspace):
    MembershipFactory(workspace=alice_workspace, user=UserFactory(email="bob@other.example"))

    page = alice_client.get(f"/campaigns/{campaign.pk}/").content.decode()

    assert "Type @ and a teammate's handle" in page
    assert "Members: @alice, @bob@example.com, @bob@other.example</p>" in page


def test_it_adds_a_comment_with_mentions_in_a_bounded_number_of_queries(
    add, alice_workspace, mailoutbox, django_assert_max_num_queries
):
    def members(count: int) -> str:
        users = [MembershipFactory(workspace=alice_workspace).user for _ in range(count)]
        return " ".join("@" + user.email.split("@")[0] for user in users)

    few = members(2)
    with django_assert_max_num_queries(20) as captured:
        add(few)
    many = members(30)

    with django_assert_max_num_queries(len(captured)):
        add(many)
    assert len(mailoutbox) == 2 + 30
