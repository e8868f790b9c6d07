"""Load benchmark of the public intake endpoints (see bench/README.md)."""
