"""What `make run` (scripts/run.py) is made of: the whole stack on one machine (DESIGN §10).

paths        .data/ and the dev server's address and ports
console      the console: step lines, a spinner, colours
processes    children in their own sessions, their logs, the supervisor that stops them
probes       is a port open, does a URL answer
environment  settings, the secret key, the children's environment
devserver    the Temporal dev server and Caseloop's search attributes on it
app          migrations, worker, web app, demo data
summary      where to go once it is up
main         the arguments and the order of it all
"""
