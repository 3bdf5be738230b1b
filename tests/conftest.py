"""Shared pytest fixtures and settings.

Hypothesis: no per-example deadline. The suite runs on shared 2-core machines where one
example can take a second under load; a deadline there reports the machine, not the code.
Speed is measured by the benchmarks in bench/, never by tests.
"""

from hypothesis import settings

settings.register_profile("mailkeep", deadline=None)
settings.load_profile("mailkeep")
