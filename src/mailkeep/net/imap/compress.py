"""COMPRESS=DEFLATE (RFC 4978): raw DEFLATE (RFC 1951) in both directions, under TLS.

Implementation notes (invariants):

- The tagged OK of COMPRESS goes out uncompressed and flushed; everything written after it
  is compressed (RFC 4978 3). What the client pipelined after the COMPRESS line is already
  compressed: the core hands it back (``compression_started``) and it is inflated first.
- Every write ends with a sync flush (Z_SYNC_FLUSH), so nothing the client waits for
  stays in the compressor: not a tagged response, not an IDLE continuation or an update
  sent during IDLE, not the end of a streamed literal. The session writes rarely (it
  buffers responses until it is about to read or has 64 KB), so the flush markers cost a
  few octets per write.
- Inflating is bounded: at most ``MAX_INFLATE`` octets come out per call, the rest of the
  input waits in ``pending`` (so a small "deflate bomb" cannot fill memory; the core's
  line and literal limits apply to what comes out). A corrupt stream, or data after the
  client ended its stream, raises CompressionError: the session ends, others go on.
- zlib is the standard library's; the level is low (RFC 4978 4: responses compress well
  at low levels and the CPU is better spent elsewhere).
"""

from __future__ import annotations

import zlib

MAX_INFLATE = 256 * 1024  # octets of inflated input handed to the core per read
_LEVEL = 3
_WBITS = -15  # raw DEFLATE, no zlib header (RFC 4978 4: windowBits -8 to -15)


class CompressionError(Exception):
    """The client's compressed stream cannot be inflated."""


class Deflate:
    """One connection's compressor and decompressor."""

    def __init__(self) -> None:
        self._compressor = zlib.compressobj(_LEVEL, zlib.DEFLATED, _WBITS)
        self._decompressor = zlib.decompressobj(_WBITS)
        self._pending = b""

    def compress(self, data: bytes) -> bytes:
        """``data`` compressed and sync-flushed: the peer can inflate all of it now."""
        return self._compressor.compress(data) + self._compressor.flush(zlib.Z_SYNC_FLUSH)

    @property
    def pending(self) -> bool:
        """Compressed input is waiting to be inflated (call ``decompress(b"")``)."""
        return bool(self._pending)

    def decompress(self, data: bytes) -> bytes:
        """Inflate what arrived (after what is pending); at most MAX_INFLATE octets. May
        return b"" when the input ends inside a block: read more then."""
        data = self._pending + data if self._pending else data
        d = self._decompressor
        if d.eof:
            if data:
                raise CompressionError("data after the end of the compressed stream")
            return b""
        try:
            out = d.decompress(data, MAX_INFLATE)
        except zlib.error as exc:
            raise CompressionError(str(exc)) from None
        self._pending = d.unconsumed_tail
        if d.eof and d.unused_data:
            raise CompressionError("data after the end of the compressed stream")
        return out
