"""SASL server mechanisms, sans-IO: PLAIN (RFC 4616), LOGIN, SCRAM-SHA-256 (RFC 5802, 7677).

``new_mechanism(name)`` returns a ``ServerMechanism``; protocol cores (SMTP AUTH, IMAP
AUTHENTICATE) feed it the client's decoded responses and relay its challenges. Credentials are
never looked up here: a mechanism returns ``NeedCheck`` and the application answers.
"""

from mailkeep.protocol.sasl.exchange import (
    Challenge,
    Failure,
    NeedCheck,
    PasswordCheck,
    ScramCredentials,
    ScramLookup,
    ServerMechanism,
    Step,
    Success,
)
from mailkeep.protocol.sasl.mechanisms import MECHANISMS, new_mechanism

__all__ = [
    "MECHANISMS",
    "Challenge",
    "Failure",
    "NeedCheck",
    "PasswordCheck",
    "ScramCredentials",
    "ScramLookup",
    "ServerMechanism",
    "Step",
    "Success",
    "new_mechanism",
]
