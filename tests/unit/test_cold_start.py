"""Every Lambda cold start pays what `import app` loads: the SDKs that cost seconds load lazily."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_importing_the_app_connects_nowhere_and_loads_no_heavy_sdk() -> None:
    code = (
        "import sys\n"
        "import app\n"
        # Powertools imports bare botocore (1 ms) for its user agent; its client and session are the cost.
        "heavy = {'anthropic', 'boto3', 'botocore.session', 'botocore.client', 'aws_xray_sdk', 'cv2', 'numpy',"
        " 'PIL', 'pgserver'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
        "from chalicelib.db import pool\n"
        "print(pool.pool_stats())\n"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(ROOT)}  # no DATABASE_URL, no AWS settings at all
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env,
                            check=True)
    assert loaded.stdout.split("\n")[:2] == ["[]", "{}"], loaded.stdout + loaded.stderr
