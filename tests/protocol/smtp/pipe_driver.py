"""Run the SMTP server core over stdin/stdout, for clients that can talk to a pipe (swaks
--pipe). Usage: python -m tests.protocol.smtp.pipe_driver SPOOL_DIR [mx|submissions].
Each accepted message is written to SPOOL_DIR/N.eml."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mailkeep.protocol.smtp.server import Listener, SMTPServerConnection, State
from tests.protocol.smtp.session import Session, config


def main() -> None:
    spool = Path(sys.argv[1])
    kind = sys.argv[2] if len(sys.argv) > 2 else "mx"
    cfg = config(Listener.SUBMISSIONS, tls_active=True) if kind == "submissions" else config()
    session = Session(SMTPServerConnection(cfg))
    os.write(1, session.pump())
    while session.state is not State.CLOSED:
        data = os.read(0, 65536)
        out = session.feed(data)
        if out:
            os.write(1, out)
        if not data:
            break
    for number, message in enumerate(session.messages):
        (spool / f"{number}.eml").write_bytes(message)


if __name__ == "__main__":
    main()
