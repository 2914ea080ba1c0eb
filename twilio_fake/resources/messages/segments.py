"""How a message body is counted: its encoding, its segments, and its length for the 1,600 limit.

A stand-in written by part A (msg-api) so that the resource runs before part B's module lands;
part B's `segments.py` replaces it whole (same functions). The rules are Twilio's documented ones
(evidence 1.40, `extras/segments_reference.py`): a segment is 1,120 bits; a split message gives 48
of each to its header; GSM-7 is 7 bits a character (14 for the extension table), and one
character outside GSM-7 makes the whole body UCS-2, 16 bits a UTF-16 unit.
"""

from __future__ import annotations

GSM7 = "GSM-7"
UCS2 = "UCS-2"
_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_EXTENSION = frozenset("\f^{}\\[~]|€")
SEGMENT_BITS = 1120
HEADER_BITS = 48


def encoding(body: str) -> str:
    """`GSM-7` if every character is in GSM 03.38's tables, else `UCS-2`."""
    return GSM7 if all(c in _BASIC or c in _EXTENSION for c in body) else UCS2


def _bits(character: str, used: str) -> int:
    if used == GSM7:
        return 14 if character in _EXTENSION else 7
    return 8 * len(character.encode("utf-16-le"))


def count(body: str) -> int:
    """How many segments the body takes (0 for the empty body)."""
    if not body:
        return 0
    used = encoding(body)
    bits = [_bits(c, used) for c in body]
    if sum(bits) <= SEGMENT_BITS:
        return 1
    segments, filled = 1, 0
    for size in bits:  # a character is never split between parts
        if filled + size > SEGMENT_BITS - HEADER_BITS:
            segments, filled = segments + 1, 0
        filled += size
    return segments


def length(body: str) -> int:
    """Characters as the 1,600 limit counts them: UTF-16 units (an emoji outside the Basic
    Multilingual Plane counts twice, as Twilio's error page warns such characters do)."""
    return len(body.encode("utf-16-le")) // 2
