"""Decoding a compressed response body a small piece at a time, so the size limit counts decoded bytes.

httpx's own decoders expand each network read in one call: 64 KB of gzip can become 64 MB, and 8 KB of zstd
256 MiB, before the caller sees a byte. These never hand out more than PIECE bytes per step, so kb.fetching stops
at KB_MAX_DOCUMENT_BYTES holding about that much. gzip, deflate (zlib-wrapped or raw) and zstd (window at most
8 MiB, the limit RFC 9659 sets for HTTP) are decoded; br, compress, unknown and stacked encodings are refused. The
fetcher asks for identity, so only a server that ignores the request sends any of them.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Iterator

PIECE = 64 * 1024
ZSTD_MAX_WINDOW = 8 * 1024 * 1024


class DecodingError(Exception):
    """The body's Content-Encoding is refused, or the compressed data is broken."""


def decoded(raw: Iterator[bytes], *, content_encoding: str) -> Iterator[bytes]:
    """The body's bytes, decoded, in pieces of at most PIECE bytes (`raw` must yield pieces that small too)."""
    encodings = [name.strip().lower() for name in content_encoding.split(",") if name.strip()]
    encodings = [name for name in encodings if name != "identity"]
    if not encodings:
        return raw
    if len(encodings) > 1:
        raise DecodingError(f"stacked content encodings ({content_encoding}) are refused")
    encoding = encodings[0]
    if encoding in ("gzip", "x-gzip"):
        return _zlib_pieces(raw, wbits=zlib.MAX_WBITS | 16, name="gzip")
    if encoding == "deflate":
        return _deflate_pieces(raw)
    if encoding == "zstd":
        return _zstd_pieces(raw)
    raise DecodingError(f"the content encoding {encoding!r} is refused (identity, gzip, deflate and zstd are read)")


def _zlib_pieces(raw: Iterator[bytes], *, wbits: int, name: str) -> Iterator[bytes]:
    decompressor = zlib.decompressobj(wbits)
    try:
        for data in raw:
            # max_length bounds each step's output; what is left of the input waits in unconsumed_tail.
            while True:
                piece = decompressor.decompress(data, PIECE)
                if piece:
                    yield piece
                data = decompressor.unconsumed_tail
                if not data and len(piece) < PIECE:
                    break
            if decompressor.eof:
                return  # anything after the end of the stream is ignored, as browsers do
    except zlib.error as exc:
        raise DecodingError(f"the {name} body is corrupt: {exc}") from exc
    raise DecodingError(f"the {name} body is cut short")


def _deflate_pieces(raw: Iterator[bytes]) -> Iterator[bytes]:
    # "deflate" should be zlib-wrapped (RFC 9110), but some servers send raw deflate: tell them apart by the header.
    first = next(raw, b"")
    wrapped = len(first) >= 2 and first[0] & 0x0F == 8 and int.from_bytes(first[:2], "big") % 31 == 0
    return _zlib_pieces(
        itertools.chain([first], raw), wbits=zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS, name="deflate"
    )


class _RawReader:
    """The raw body as the file-like source zstandard's stream reader pulls from."""

    def __init__(self, raw: Iterator[bytes]) -> None:
        self._raw = raw

    def read(self, size: int = -1) -> bytes:
        return next(self._raw, b"")


def _zstd_pieces(raw: Iterator[bytes]) -> Iterator[bytes]:
    import zstandard

    decompressor = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW)
    reader = decompressor.stream_reader(_RawReader(raw), read_size=PIECE, read_across_frames=True)
    try:
        while piece := reader.read(PIECE):
            yield piece
    except zstandard.ZstdError as exc:
        raise DecodingError(f"the zstd body is corrupt or needs more than 8 MiB to decode: {exc}") from exc
