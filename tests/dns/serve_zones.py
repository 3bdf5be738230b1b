"""Serve TXT zones from a JSON file ({name: text}) on 127.0.0.1:PORT until killed.

For third-party tools that only use the system resolver (port 53): run inside a private
network namespace (``unshare -n -m``) with /etc/resolv.conf bind-mounted to 127.0.0.1.
Usage: python -m tests.dns.serve_zones ZONES.json PORT
"""

from __future__ import annotations

import json
import sys
import threading

from dnslib.server import DNSServer

from tests.dns.server import Zones, _Quiet


def main(path: str, port: int) -> None:
    zones = Zones()
    with open(path, encoding="utf-8") as f:
        for name, text in json.load(f).items():
            zones.add_txt(name, text)
    for tcp in (False, True):
        DNSServer(zones, port=port, address="127.0.0.1", tcp=tcp, logger=_Quiet()).start_thread()
    print("ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
