"""Example configuration (demo.yaml, loaded by `seed-demo`); a package so the wheel ships it."""
