"""Test configuration: bounds checks on, hypothesis profiles, shared helpers.

The suite runs correctness tests with bounds checking on (an out-of-range
index fails a test instead of reading stray memory), with a disk cache of its own.  Hypothesis profiles:
`ci` (derandomized, bounded; the default) and `dev` (deeper);
choose with HYPOTHESIS_PROFILE.
"""
import atexit
import os
import shutil
import tempfile

os.environ.setdefault("MOJOLITE_BOUNDSCHECK", "1")      # before mojolite reads its settings
os.environ.setdefault("MOJOLITE_AUTOTUNE", "0")         # library kernels: their static defaults
# A cache of compiled code of the run's own: tests never see entries of other runs.
if "MOJOLITE_CACHE_DIR" not in os.environ:
    os.environ["MOJOLITE_CACHE_DIR"] = tempfile.mkdtemp(prefix="mojolite-test-cache-")
    atexit.register(shutil.rmtree, os.environ["MOJOLITE_CACHE_DIR"], ignore_errors=True)

from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile("ci", max_examples=40, derandomize=True, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("dev", max_examples=300, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
