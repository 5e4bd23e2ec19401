import os

from hypothesis import HealthCheck, settings

# ci (the default): derandomized, so every run, CI's included, is reproducible;
# HYPOTHESIS_PROFILE=dev explores new examples on each run
settings.register_profile("ci", derandomize=True, deadline=None, max_examples=40,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, max_examples=40)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
