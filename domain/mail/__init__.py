"""Outgoing messages: the Jinja sandbox, the shipped templates, rendering and previews.

Every message has three parts — a one-line subject, a plain-text body and an HTML body — rendered
by Jinja2 in an *immutable sandbox* that sees plain data only (dicts built from the read model by
`activities.mail_context`), never an ORM object, the settings or a Python callable. The defaults
are files under templates/ here; a program overrides any part through its configuration
(`notifications.templates.<kind>.subject|text|html`, stored with the program).

An override is checked when it is saved, not when a customer is waiting (`preview.check_template`):
it must parse, use only the context's names, reach no attribute or key starting with "_", nest
loops at most two deep, define no macros, and render the demo case within the size and time
budget. At send time an override that still fails falls back to the default for that part, so
a message always goes out.

Scripted replies are not Jinja: their [[PLACEHOLDERS]] are filled in from the case
(`schema.fill_placeholders`) and the owner edits the result before sending it.
"""
