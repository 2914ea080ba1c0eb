"""How Twilio counts a message body: its encoding, its segments, and its length for the 1,600 limit.

A segment is 140 octets (1,120 bits). A body that fits in one segment uses all of them; a longer
one is split, and every part carries a 6-octet User Data Header, leaving 1,072 bits. GSM-7
takes 7 bits a character (a character of the extension table: 14, an escape and the
character); one character outside GSM-7 makes the whole body UCS-2, 16 bits a UTF-16 unit (an
emoji outside the Basic Multilingual Plane takes two). A character is never split between
parts. So 160 / 153 GSM-7 characters, 70 / 67 UCS-2 units, as Twilio's documentation and its
segment calculator say (docs/fidelity.md, "Messages: rules").

Smart Encoding (a service setting that replaces look-alike Unicode with GSM-7) is not applied.
"""

from __future__ import annotations

GSM7 = "GSM-7"
UCS2 = "UCS-2"

# GSM 03.38: the basic table (the escape code itself excluded), and the extension table.
_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_EXTENSION = frozenset("\f^{}\\[~]|€")

SEGMENT_BITS = 1120  # 140 octets
HEADER_BITS = 48  # the User Data Header of each part of a concatenated message


def encoding(body: str) -> str:
    """GSM-7 if every character is in GSM-7's tables (basic or extension), else UCS-2."""
    return GSM7 if all(c in _BASIC or c in _EXTENSION for c in body) else UCS2


def _bits(body: str, body_encoding: str) -> list[int]:
    if body_encoding == GSM7:
        return [14 if c in _EXTENSION else 7 for c in body]
    return [32 if ord(c) > 0xFFFF else 16 for c in body]


def count(body: str) -> int:
    """The number of segments Twilio bills and reports as `num_segments` (0 for no body)."""
    if not body:
        return 0
    bits = _bits(body, encoding(body))
    if sum(bits) <= SEGMENT_BITS:
        return 1
    segments, used = 1, 0
    for size in bits:
        if used + size > SEGMENT_BITS - HEADER_BITS:
            segments, used = segments + 1, 0
        used += size
    return segments


def length(body: str) -> int:
    """The body's length as the 1,600-character limit counts it: UTF-16 units, so an emoji
    outside the Basic Multilingual Plane counts twice (Twilio: emoji "will be counted as
    multiple characters"), and every other character once, GSM-7's extension table included."""
    return len(body.encode("utf-16-le")) // 2


__all__ = ["GSM7", "UCS2", "count", "encoding", "length"]
