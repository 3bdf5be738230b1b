"""The sans-IO IMAP core (RFC 3501, RFC 9051 and extensions): framing, parser, encoder."""
