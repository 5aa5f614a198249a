"""`spoke teams package`: a zip Teams accepts - manifest 1.17, bot scopes, valid icons."""

from __future__ import annotations

import json
import struct
import zipfile
import zlib
from pathlib import Path

from tests.test_console import spoke

APP_ID = "00000000-0000-4000-8000-00000000b07a"


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    assert (depth, colour) == (8, 6)  # 8-bit RGBA
    position, idat = 8, b""
    while position < len(data):
        length = struct.unpack(">I", data[position:position + 4])[0]
        kind = data[position + 4:position + 8]
        body = data[position + 8:position + 8 + length]
        crc = struct.unpack(">I", data[position + 8 + length:position + 12 + length])[0]
        assert crc == zlib.crc32(kind + body)
        if kind == b"IDAT":
            idat += body
        position += 12 + length
    raw = zlib.decompress(idat)
    stride = width * 4 + 1
    rows = [raw[y * stride + 1:(y + 1) * stride] for y in range(height)]
    return width, height, rows


def test_the_package_holds_a_valid_manifest_and_icons(tmp_path: Path) -> None:
    output = tmp_path / "spoke.zip"
    result = spoke(tmp_path, "teams", "package", "--app-id", APP_ID, "--domain",
                   "https://spoke.example.org/", "--output", str(output))
    assert result.returncode == 0, result.stderr
    with zipfile.ZipFile(output) as archive:
        assert sorted(archive.namelist()) == ["color.png", "manifest.json", "outline.png"]
        manifest = json.loads(archive.read("manifest.json"))
        color = png_pixels(archive.read("color.png"))
        outline = png_pixels(archive.read("outline.png"))
    assert manifest["manifestVersion"] == "1.17"
    assert manifest["bots"][0]["botId"] == APP_ID
    assert set(manifest["bots"][0]["scopes"]) == {"personal", "team", "groupChat"}
    assert manifest["validDomains"] == ["spoke.example.org"]
    assert len(manifest["name"]["short"]) <= 30 and len(manifest["description"]["short"]) <= 80
    assert color[:2] == (192, 192) and outline[:2] == (32, 32)
    color_alphas = {row[i + 3] for row in color[2] for i in range(0, len(row), 4)}
    outline_pixels = {bytes(row[i:i + 4]) for row in outline[2] for i in range(0, len(row), 4)}
    assert color_alphas == {255}  # the colour icon is opaque
    assert outline_pixels <= {b"\xff\xff\xff\xff", b"\x00\x00\x00\x00"}  # white on transparent
    assert b"\x00\x00\x00\x00" in outline_pixels and b"\xff\xff\xff\xff" in outline_pixels


def test_packaging_again_keeps_the_same_app_id(tmp_path: Path) -> None:
    ids = []
    for name in ("a.zip", "b.zip"):
        assert spoke(tmp_path, "teams", "package", "--app-id", APP_ID, "--domain", "x.example",
                     "--output", str(tmp_path / name)).returncode == 0
        with zipfile.ZipFile(tmp_path / name) as archive:
            ids.append(json.loads(archive.read("manifest.json"))["id"])
    assert ids[0] == ids[1]


def test_a_missing_or_malformed_app_id_is_refused(tmp_path: Path) -> None:
    result = spoke(tmp_path, "teams", "package", "--app-id", "not-a-guid", "--domain", "x.example")
    assert result.returncode == 1 and "GUID" in result.stderr
