"""The [smtp_limits] config section and the core's ServerLimits agree on names and defaults."""

from __future__ import annotations

import dataclasses

from mailkeep.config.schema import SMTP
from mailkeep.protocol.smtp.server import Listener, ServerConfig, ServerLimits


def test_every_core_limit_is_a_config_field_with_the_same_default() -> None:
    section = SMTP()
    names = {f.name for f in dataclasses.fields(ServerLimits)}
    assert ServerLimits(**section.model_dump(include=names)) == ServerLimits()
    defaults = ServerConfig("mx.example.org", Listener.MX)
    assert section.reject_early_talkers is defaults.reject_early_talkers
    assert section.auth_on_mx is defaults.auth_on_mx
