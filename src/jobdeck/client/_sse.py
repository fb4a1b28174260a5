"""Server-Sent Events parsing (the WHATWG event-stream rules), fed line by line."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["EventParser", "ServerSentEvent"]


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One message of the stream. ``json`` is ``data`` parsed, or None when it is not JSON."""

    event: str
    data: str
    id: str | None
    retry: int | None
    json: Any


@dataclass
class EventParser:
    """Turns lines (without their line break) into events; a blank line ends an event."""

    _event: str = ""
    _data: list[str] = field(default_factory=list)
    _id: str | None = None
    _last_id: str | None = None
    _retry: int | None = None

    def line(self, line: str) -> ServerSentEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self._id = value
        elif name == "retry" and value.isdigit():
            self._retry = int(value)
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        if self._id is not None:
            self._last_id = self._id
        data, event = "\n".join(self._data), self._event or "message"
        had_data = bool(self._data)
        self._event, self._data, self._id = "", [], None
        if not had_data:
            return None
        try:
            parsed: Any = json.loads(data)
        except ValueError:
            parsed = None
        return ServerSentEvent(event=event, data=data, id=self._last_id, retry=self._retry, json=parsed)
