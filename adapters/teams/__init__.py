"""Spoke as a Microsoft Teams bot, on botbuilder-core 4.17.1.

Thin, like the Slack adapter: authenticate the Bot Framework token ourselves (the stock
CloudAdapter answers 500 to several forged tokens), acknowledge, translate Activities into
neutral events, render neutral replies as Adaptive Cards 1.5, and send through the outbox
to the Bot Connector REST API with one shared HTTP session.

Every botbuilder/botframework import stays in this folder. botbuilder-python is archived;
its successor is the Microsoft 365 Agents SDK (`microsoft-agents-*` packages). Moving means
replacing `botbuilder.schema` (Activity, ConversationReference) with
`microsoft_agents.activity` in translate.py and render.py, and CardFactory/MessageFactory
with their Agents SDK equivalents; auth.py and notifier.py speak the public Bot Framework
protocols (OpenID/JWKS, client-credentials tokens, Connector REST v3) directly and need no
change. Nothing outside adapters/teams imports either SDK.
"""
