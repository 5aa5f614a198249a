"""`spoke teams package`: the Teams app package (manifest.json and two icons, zipped) to
upload in Teams or the Developer Portal. Icons are drawn here, so the package needs nothing
but the bot's app id and the address of `spoke serve`."""

from __future__ import annotations

import io
import json
import struct
import uuid
import zipfile
import zlib
from typing import Any

MANIFEST_VERSION = "1.17"
SCHEMA = f"https://developer.microsoft.com/en-us/json-schemas/teams/v{MANIFEST_VERSION}/MicrosoftTeams.schema.json"
BRAND = (44, 79, 107)  # the slate blue of the Slack manifest


def manifest(app_id: str, domain: str, version: str = "1.0.0") -> dict[str, Any]:
    return {
        "$schema": SCHEMA,
        "manifestVersion": MANIFEST_VERSION,
        "version": version,
        # A stable id derived from the bot's id: re-packaging updates the same app.
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"spoke-teams:{app_id}")),
        "developer": {"name": "Spoke", "websiteUrl": f"https://{domain}/",
                      "privacyUrl": f"https://{domain}/privacy",
                      "termsOfUseUrl": f"https://{domain}/terms"},
        "name": {"short": "Spoke", "full": "Spoke - your ECHO network assistant"},
        "description": {
            "short": "Register, session reminders and case presentations for ECHO networks.",
            "full": ("Spoke is the participant side of Project ECHO tele-mentoring networks: it "
                     "signs you up with your consent, reminds you about sessions in your own time "
                     "zone and helps you prepare a de-identified case presentation. Type help at "
                     "any time, in English or French.")},
        "icons": {"color": "color.png", "outline": "outline.png"},
        "accentColor": "#2C4F6B",
        "bots": [{"botId": app_id, "scopes": ["personal", "team", "groupChat"],
                  "supportsFiles": False, "isNotificationOnly": False,
                  "commandLists": [{"scopes": ["personal"], "commands": [
                      {"title": "help", "description": "What Spoke can do"},
                      {"title": "register", "description": "Join your ECHO networks"},
                      {"title": "profile", "description": "See or change your details"},
                      {"title": "language", "description": "English or French"}]}]}],
        "permissions": ["identity", "messageTeamMembers"],
        "validDomains": [domain],
    }


def package(app_id: str, domain: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(manifest(app_id, domain), indent=2))
        archive.writestr("color.png", icon(192, BRAND, (255, 255, 255, 255), opaque=True))
        archive.writestr("outline.png", icon(32, (0, 0, 0), (255, 255, 255, 255), opaque=False))
    return buffer.getvalue()


def icon(size: int, background: tuple[int, int, int], mark: tuple[int, int, int, int],
         *, opaque: bool) -> bytes:
    """A square PNG with a ring (a hub) and a dot (a spoke). The outline icon must be white
    on transparent, the colour icon full colour: Teams checks both."""
    centre, outer, inner, dot = size / 2, size * 0.36, size * 0.24, size * 0.08
    rows = []
    for y in range(size):
        row = bytearray([0])  # filter: none
        for x in range(size):
            distance = ((x + 0.5 - centre) ** 2 + (y + 0.5 - centre) ** 2) ** 0.5
            spoke_distance = ((x + 0.5 - centre) ** 2 + (y + 0.5 - size * 0.18) ** 2) ** 0.5
            on_mark = inner <= distance <= outer or spoke_distance <= dot
            if on_mark:
                row += bytes(mark)
            elif opaque:
                row += bytes((*background, 255))
            else:
                row += bytes((0, 0, 0, 0))
        rows.append(bytes(row))
    return _png(size, size, b"".join(rows))


def _png(width: int, height: int, raw_rgba_rows: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw_rgba_rows, 9)) + chunk(b"IEND", b""))
