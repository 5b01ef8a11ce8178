"""A raw HTTP/2 frame writer and reader for the abuse tests (rapid reset, CONTINUATION flood, ping
flood, zero window): it builds exactly the frames a misbehaving client sends, which no
well-behaved client library will. HPACK is only encoded, with literal fields without indexing
(RFC 7541 §6.2.2), and responses are only looked at frame by frame (type, flags, stream)."""

import socket
import ssl
import struct
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, \
    CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4
SETTINGS_INITIAL_WINDOW_SIZE = 0x4
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, CANCEL, ENHANCE_YOUR_CALM = 0x0, 0x1, 0x2, 0x8, 0xb


def frame(ftype, flags, stream_id, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", stream_id & 0x7FFFFFFF) + payload


def _int(value, prefix_bits, first=0):
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = [first | limit]
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def hpack(fields):
    """Literal header fields without indexing, new names, no Huffman."""
    out = b""
    for name, value in fields:
        n, v = name.encode(), value.encode()
        out += b"\x00" + _int(len(n), 7) + n + _int(len(v), 7) + v
    return out


def request_fields(path, authority="localhost", method="GET", scheme="http", extra=()):
    return [(":method", method), (":scheme", scheme), (":authority", authority),
            (":path", path)] + list(extra)


def settings(pairs=()):
    return frame(SETTINGS, 0, 0, b"".join(struct.pack(">HI", k, v) for k, v in pairs))


class RawH2:
    """One HTTP/2 connection (cleartext h2c prior knowledge, or TLS with ALPN h2)."""

    def __init__(self, port, tls=False, server_name="localhost", timeout=10.0, settings_pairs=()):
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.set_alpn_protocols(["h2"])
            raw = ctx.wrap_socket(raw, server_hostname=server_name)
            assert raw.selected_alpn_protocol() == "h2", raw.selected_alpn_protocol()
        self.sock = raw
        self.buf = b""
        self.sock.sendall(PREFACE + settings(settings_pairs))

    def send(self, data):
        self.sock.sendall(data)

    def try_send(self, data):
        """Sends, returning False when the server already closed the connection."""
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            return False

    def read_frame(self, deadline):
        """The next (type, flags, stream_id, payload), or None on EOF."""
        while True:
            if len(self.buf) >= 9:
                length = int.from_bytes(self.buf[:3], "big")
                if len(self.buf) >= 9 + length:
                    ftype, flags = self.buf[3], self.buf[4]
                    sid = int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF
                    payload = self.buf[9:9 + length]
                    self.buf = self.buf[9 + length:]
                    return ftype, flags, sid, payload
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no complete frame before the deadline")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionResetError, ssl.SSLError):
                return None
            if not chunk:
                return None
            self.buf += chunk

    def frames_until_close(self, timeout=10.0):
        """Every frame until the server closes the connection."""
        deadline = time.monotonic() + timeout
        out = []
        while True:
            f = self.read_frame(deadline)
            if f is None:
                return out
            out.append(f)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def goaway_code(frames):
    """The error code of the first GOAWAY among `frames`, or None."""
    for ftype, _flags, _sid, payload in frames:
        if ftype == GOAWAY and len(payload) >= 8:
            return int.from_bytes(payload[4:8], "big")
    return None
