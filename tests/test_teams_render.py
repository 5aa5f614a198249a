"""Teams rendering and translation, pure: Adaptive Cards 1.5 and activities in."""

from __future__ import annotations

from adapters.teams.render import card, escape, render
from adapters.teams.translate import hints_from, plain_text, translate
from assistant.events import ConversationStarted, FormSubmitted, Hints, UserChose, UserSaid
from assistant.messages import Card, Fact, Form, FormField, Option, Question, Reply, Text

TENANT, AAD, BOT = "tenant-1", "aad-amira", "28:bot"


def activity(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "type": "message", "id": "act-1", "channelId": "msteams", "serviceUrl": "http://connector/",
        "from": {"id": "29:amira", "aadObjectId": AAD, "name": "Amira Haddad"},
        "recipient": {"id": BOT, "name": "Spoke"},
        "conversation": {"id": "a:personal", "conversationType": "personal", "tenantId": TENANT},
        "channelData": {"tenant": {"id": TENANT}}, "localTimezone": "Europe/London", "locale": "en-GB"}
    base.update(fields)
    return base


def test_text_only_replies_are_plain_markdown_messages_with_user_text_escaped() -> None:
    sent = render(Reply((Text("Hi [link](http://evil) *you*"),)))
    assert sent["type"] == "message" and "attachments" not in sent
    assert sent["text"] == r"Hi \[link\](http://evil) \*you\*"
    assert escape("a_b") == r"a\_b"


def test_choices_become_action_submits_carrying_only_the_reference() -> None:
    sent = render(Reply((Question("Role?", tuple(Option(f"R{n}", f"reg:role:1:r{n}") for n in range(8))),)))
    content = sent["attachments"][0]["content"]
    assert sent["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert content["version"] == "1.5"
    sets = [b for b in content["body"] if b["type"] == "ActionSet"]
    assert [len(s["actions"]) for s in sets] == [6, 2]
    assert sets[0]["actions"][0] == {"type": "Action.Submit", "title": "R0",
                                     "data": {"spoke_ref": "reg:role:1:r0"}}


def test_a_card_becomes_a_fact_set_and_a_form_inputs_with_errors() -> None:
    document = card(Reply((Card("You", (Fact("Name", "Amira"),)),
                           Form("Edit", "profile:details:2:form",
                                (FormField("email", "E-mail", "x", error="No @"),), submit="Save"))))
    kinds = [b["type"] for b in document["body"]]
    assert kinds == ["TextBlock", "FactSet", "TextBlock", "Input.Text", "TextBlock"]
    assert document["body"][3] == {"type": "Input.Text", "id": "email", "label": "E-mail",
                                   "value": "x", "isMultiline": False}
    assert document["body"][4]["color"] == "Attention"
    assert document["actions"] == [{"type": "Action.Submit", "title": "Save",
                                    "data": {"spoke_form": "profile:details:2:form"}}]


def test_a_personal_message_becomes_what_the_person_said() -> None:
    incoming = translate(activity(text="<p>hello&nbsp;there</p>"), Hints())
    assert incoming is not None and not incoming.invoke
    assert incoming.event.action == UserSaid("hello there")
    assert incoming.event.actor.identity == f"teams:{TENANT}/{AAD}"
    assert incoming.event.delivery_id == "teams:act-1"
    assert incoming.event.address["conversation"] == "a:personal"
    assert incoming.event.address["service_url"] == "http://connector/"


def test_card_submissions_and_invokes_carry_the_reference() -> None:
    chose = translate(activity(value={"spoke_ref": "r:x:1:y"}, text=None), Hints())
    form = translate(activity(value={"spoke_form": "p:d:1:form", "email": "a@b.org"}), Hints())
    invoke = translate(activity(type="invoke", name="adaptiveCard/action",
                                value={"action": {"type": "Action.Execute", "verb": "choose",
                                                  "data": {"spoke_ref": "r:x:1:z"}}}), Hints())
    assert chose is not None and chose.event.action == UserChose("r:x:1:y")
    assert form is not None and form.event.action == FormSubmitted("p:d:1:form", {"email": "a@b.org"})
    assert invoke is not None and invoke.invoke and invoke.event.action == UserChose("r:x:1:z")


def test_the_bot_being_added_starts_the_conversation_once() -> None:
    added = translate(activity(type="conversationUpdate", membersAdded=[{"id": BOT}]), Hints())
    someone_else = translate(activity(type="conversationUpdate", membersAdded=[{"id": "29:x"}]),
                             Hints())
    assert added is not None and added.event.action == ConversationStarted()
    assert someone_else is None


def test_in_a_channel_only_a_mention_is_answered_and_nothing_of_the_channel_is_kept() -> None:
    channel = {"id": "19:general", "conversationType": "channel", "tenantId": TENANT}
    unmentioned = translate(activity(conversation=channel, text="hello all"), Hints())
    mentioned = translate(activity(conversation=channel, text="<at>Spoke</at> help",
                                   entities=[{"type": "mention", "mentioned": {"id": BOT}}]), Hints())
    assert unmentioned is None
    assert mentioned is not None and mentioned.event.action == UserSaid("help")
    assert "conversation" not in mentioned.event.address


def test_an_activity_without_a_tenant_or_user_is_ignored() -> None:
    assert translate(activity(channelData={}, conversation={"id": "a:1"}), Hints()) is None
    assert translate(activity(**{"from": {"id": "29:x"}}), Hints()) is None


def test_hints_come_from_the_activity_and_the_member() -> None:
    hints = hints_from(activity(), {"email": "amira@contoso.example", "name": "Amira H"})
    assert hints == Hints(display_name="Amira Haddad", email="amira@contoso.example",
                          time_zone="Europe/London", language="en-GB")
    assert plain_text("<at>Spoke</at> profile") == "profile"


def test_the_kept_reference_is_the_one_botbuilder_would_make() -> None:
    from botbuilder.core import TurnContext
    from botbuilder.schema import Activity

    from adapters.teams.translate import conversation_reference

    sample = activity(text="hello", id="act-9")
    expected = TurnContext.get_conversation_reference(Activity().deserialize(sample)).serialize()
    assert conversation_reference(sample) == expected


def test_a_chart_shows_in_the_card_and_other_files_only_as_links() -> None:
    from assistant.messages import File

    reply = Reply((File("report.png", "image/png", b"\x89PNG", caption="Attendance chart"),
                   File("report.csv", "text/csv", b"a,b\n")))
    links = {0: "https://spoke.example.org/files/png-token", 1: "https://spoke.example.org/files/csv"}
    body = card(reply, links)["body"]
    images = [b for b in body if b["type"] == "Image"]
    assert images == [{"type": "Image", "url": links[0], "altText": "Attendance chart"}]
    opened = [a["url"] for b in body if b["type"] == "ActionSet" for a in b["actions"]]
    assert opened == [links[0], links[1]]
