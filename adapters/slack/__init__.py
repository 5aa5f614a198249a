"""Spoke in Slack: slack-bolt's AsyncApp behind our own signature check.

Thin by rule: verify, acknowledge, translate Slack payloads into neutral events, render
neutral replies as Block Kit. Wording, permissions and state live in the core.
"""
