"""Test settings: a throw-away data directory and keys, set before Courrier reads its settings."""

import os
import tempfile

from cryptography.fernet import Fernet

os.environ["COURRIER_DATA_DIR"] = tempfile.mkdtemp(prefix="courrier-tests-")
os.environ.setdefault("COURRIER_ENCRYPTION_KEYS", Fernet.generate_key().decode())
os.environ.setdefault("COURRIER_SECRET_KEY", "tests-only-secret-key-" + "x" * 40)
os.environ.pop("DATABASE_URL", None)

from courrier.settings import *  # noqa: F403
from courrier.settings import COURRIER, STATIC_ROOT

# Fast passwords: the tests create many collaborators.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
COURRIER = {**COURRIER, "RETRY_BASE_SECONDS": 1.0, "SMTP_TIMEOUT": 5.0}

# WhiteNoise warns on every request when the collected-static directory is absent.
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
