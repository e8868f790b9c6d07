"""Benchmarks: intake load (intake.py, README.md), delivery drain and nightly
verification (drain.py, verification.py, DRAIN.md), billing aggregation
(billing.py, BILLING.md), legacy import (import_legacy.py, legacy/README.md)."""
