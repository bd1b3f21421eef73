"""Command-line entry points for operators: `python -m cli --help` (migrate, load-config,
seed-demo, token ...)."""
