#!/usr/bin/env python3
"""A Kafka health probe for ./dev: one real Metadata round trip (v4, no topics) against a broker.

Exit 0 when the broker answers with at least one live broker and a controller, 1 otherwise.
Uses only the standard library, so it runs before anything is built.

    kafka-probe.py HOST:PORT [timeout_s]
"""
import socket
import struct
import sys


def probe(address: str, timeout: float) -> bool:
    host, port = address.rsplit(":", 1)
    client_id = b"souk-dev"
    # request header v1: api_key=3 (Metadata), api_version=4, correlation_id, client_id
    body = struct.pack(">hhih", 3, 4, 7, len(client_id)) + client_id
    # Metadata v4: topics = [] (none), allow_auto_topic_creation = false
    body += struct.pack(">ib", 0, 0)
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.settimeout(timeout)
        s.sendall(struct.pack(">i", len(body)) + body)
        size = struct.unpack(">i", read_exact(s, 4))[0]
        resp = read_exact(s, size)
    correlation_id, _throttle, brokers = struct.unpack(">iii", resp[:12])
    return correlation_id == 7 and brokers >= 1


def read_exact(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        buf += chunk
    return buf


if __name__ == "__main__":
    try:
        ok = probe(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 5.0)
    except (OSError, ValueError, struct.error):
        ok = False
    sys.exit(0 if ok else 1)
