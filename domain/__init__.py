"""Pure rules and the vocabulary: no I/O, no framework, importable from every layer."""
