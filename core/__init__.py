"""Cross-cutting pieces shared by the API, the worker and the CLI: settings, Temporal, CLI."""
