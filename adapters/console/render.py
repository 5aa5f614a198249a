"""Neutral messages as terminal text: numbered options the reader can type back."""

from __future__ import annotations

from pathlib import Path

from assistant.messages import Card, File, Form, Question, Reply, Text


def render(reply: Reply, files_dir: Path) -> str:
    blocks: list[str] = []
    for part in reply.parts:
        if isinstance(part, Text | Question | Card | Form):
            blocks.append(part.fallback_text())
        elif isinstance(part, File):
            blocks.append(_save(part, files_dir))
    return "\n\n".join(block for block in blocks if block)


def _save(file: File, files_dir: Path) -> str:
    """The terminal cannot attach a file, so it writes one and prints where."""
    files_dir.mkdir(parents=True, exist_ok=True)
    path = files_dir / Path(file.name).name  # never a path the message chose
    path.write_bytes(file.content)
    return f"{(file.caption or file.name).rstrip('.')}: {path}"
