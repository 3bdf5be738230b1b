"""The IMAP and IMAPS listeners: the asyncio adapter (server.py) around protocol.imap, and
one module per command group answering the core's commands with the store and accounts."""
