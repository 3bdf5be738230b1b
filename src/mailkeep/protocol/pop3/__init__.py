"""POP3 (RFC 1939) with CAPA (RFC 2449), STLS (RFC 2595), AUTH (RFC 5034) and response codes
(RFC 2449 section 8, RFC 3206): a sans-IO server core."""
