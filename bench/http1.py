"""Just enough HTTP/1.1 for a load generator: encode a request once, parse responses incrementally.

Bodies are framed by Content-Length, by chunked transfer coding, or (when neither is given) by the
server closing the connection. Interim 1xx responses are skipped.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

_CRLF = b"\r\n"
_HEADER_END = b"\r\n\r\n"
_METHODS_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


class ProtocolError(Exception):
    """The server sent something that is not a well-formed HTTP/1.1 response."""


@dataclass(frozen=True)
class Request:
    """One request to send, again and again: method, path, headers and body."""

    method: str = "GET"
    path: str = "/"
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    def with_header(self, name: str, value: str) -> Request:
        return Request(self.method, self.path, (*self.headers, (name, value)), self.body)

    def with_bearer(self, token: str) -> Request:
        return self.with_header("Authorization", f"Bearer {token}")

    def with_cookies(self, cookies: dict[str, str]) -> Request:
        return self.with_header("Cookie", "; ".join(f"{k}={v}" for k, v in cookies.items()))

    @property
    def expects_body(self) -> bool:
        return self.method.upper() != "HEAD"

    def encode(self, host: str) -> bytes:
        """The request's bytes on the wire (keep-alive is HTTP/1.1's default)."""
        names = {name.lower() for name, _ in self.headers}
        lines = [f"{self.method.upper()} {self.path} HTTP/1.1"]
        if "host" not in names:
            lines.append(f"Host: {host}")
        lines.extend(f"{name}: {value}" for name, value in self.headers)
        if "content-length" not in names and (
            self.body or self.method.upper() in _METHODS_WITH_BODY
        ):
            lines.append(f"Content-Length: {len(self.body)}")
        head = "\r\n".join(lines) + "\r\n\r\n"
        return head.encode("latin-1") + self.body


@dataclass
class Response:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    keep_alive: bool

    def header(self, name: str) -> bytes | None:
        """The first value of header `name` (case-insensitive), or None."""
        wanted = name.lower().encode("latin-1")
        return next((value for key, value in self.headers if key == wanted), None)


@dataclass
class ResponseParser:
    """Feed bytes as they arrive; take complete responses out with `next_response`.

    One request is in flight per connection, so the parser only needs to know whether the current
    request was a HEAD (no body, whatever the headers say).
    """

    expects_body: bool = True
    _buffer: bytearray = field(default_factory=bytearray)
    _eof: bool = False

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def feed_eof(self) -> None:
        self._eof = True

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def next_response(self) -> Response | None:
        """The next complete final response, or None until more bytes arrive."""
        while True:
            response = self._parse_one()
            if response is None or response.status >= 200:
                return response

    def _parse_one(self) -> Response | None:
        buffer = self._buffer
        end = buffer.find(_HEADER_END)
        if end < 0:
            if self._eof and buffer:
                raise ProtocolError("connection closed inside response headers")
            return None
        lines = bytes(buffer[:end]).split(_CRLF)
        status = _status_code(lines[0])
        version_1_0 = lines[0].startswith(b"HTTP/1.0")
        headers: list[tuple[bytes, bytes]] = []
        length: int | None = None
        chunked = False
        connection = b""
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep:
                raise ProtocolError(f"malformed header line {line[:40]!r}")
            name = name.strip().lower()
            value = value.strip()
            headers.append((name, value))
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    raise ProtocolError(f"bad content-length {value!r}") from None
            elif name == b"transfer-encoding":
                chunked = value.lower().endswith(b"chunked")
            elif name == b"connection":
                connection = value.lower()
        keep_alive = (b"keep-alive" in connection) if version_1_0 else (b"close" not in connection)
        start = end + 4

        if status < 200 or status in (204, 304) or not self.expects_body:
            del buffer[:start]
            return Response(status, headers, b"", keep_alive)
        if chunked:
            parsed = _dechunk(buffer, start)
            if parsed is None:
                if self._eof:
                    raise ProtocolError("connection closed inside a chunked body")
                return None
            body, consumed = parsed
            del buffer[:consumed]
            return Response(status, headers, body, keep_alive)
        if length is not None:
            if len(buffer) - start < length:
                if self._eof:
                    raise ProtocolError("connection closed inside a body")
                return None
            body = bytes(buffer[start : start + length])
            del buffer[: start + length]
            return Response(status, headers, body, keep_alive)
        # No framing: the body runs to the end of the connection.
        if not self._eof:
            return None
        body = bytes(buffer[start:])
        buffer.clear()
        return Response(status, headers, body, False)


def fetch(host: str, port: int, request: Request, *, timeout: float = 10.0) -> Response:
    """Send one request on a fresh connection and read its response (set-up and sanity checks)."""
    parser = ResponseParser(expects_body=request.expects_body)
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(request.encode(f"{host}:{port}"))
        while True:
            response = parser.next_response()
            if response is not None:
                return response
            data = sock.recv(65536)
            if data:
                parser.feed(data)
            else:
                parser.feed_eof()
                response = parser.next_response()
                if response is None:
                    raise ProtocolError("connection closed before a response")
                return response


def _status_code(status_line: bytes) -> int:
    parts = status_line.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise ProtocolError(f"malformed status line {status_line[:40]!r}")
    try:
        return int(parts[1])
    except ValueError:
        raise ProtocolError(f"malformed status line {status_line[:40]!r}") from None


def _dechunk(buffer: bytearray, start: int) -> tuple[bytes, int] | None:
    """The decoded body and the bytes it used (trailers included), or None if incomplete."""
    body = bytearray()
    position = start
    while True:
        line_end = buffer.find(_CRLF, position)
        if line_end < 0:
            return None
        size_field = bytes(buffer[position:line_end]).split(b";", 1)[0].strip()
        try:
            size = int(size_field, 16)
        except ValueError:
            raise ProtocolError(f"bad chunk size {size_field[:20]!r}") from None
        position = line_end + 2
        if size == 0:
            break
        if len(buffer) < position + size + 2:
            return None
        body += buffer[position : position + size]
        position += size
        if buffer[position : position + 2] != _CRLF:
            raise ProtocolError("chunk not followed by CRLF")
        position += 2
    # Trailer fields, then an empty line.
    while True:
        line_end = buffer.find(_CRLF, position)
        if line_end < 0:
            return None
        empty = line_end == position
        position = line_end + 2
        if empty:
            return bytes(body), position
