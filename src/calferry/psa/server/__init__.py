"""``calferry psa serve``: an Autotask-compatible REST server (FastAPI + SQLAlchemy).

The demo credentials live here, free of heavy imports, so the CLI can show them as defaults.
"""

from __future__ import annotations

DEMO_INTEGRATION_CODE = "CALFERRYDEMO000000000000000"  # 27 characters, like a real tracking identifier
DEMO_USERNAME = "api@demo.calferry.local"
DEMO_SECRET = "demo-secret"
