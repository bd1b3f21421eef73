# Caseloop image: the web/API service and the worker (docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

RUN useradd --system --uid 10001 --create-home --home-dir /home/caseloop caseloop

# Dependencies first (their layer survives code changes): exactly the runtime set of uv.lock,
# hash-checked, as `make venv` and CI have them. uv only exports the list; pip installs it.
ARG UV_VERSION=0.13.9
COPY pyproject.toml uv.lock ./
RUN pip install "uv==${UV_VERSION}" \
    && uv export --quiet --frozen --no-emit-project --format requirements.txt -o /tmp/requirements.txt \
    && pip install --require-hashes --no-deps -r /tmp/requirements.txt \
    && pip uninstall -y uv \
    && rm /tmp/requirements.txt

# The code runs from /app (uvicorn api:app, python worker.py, python scripts/run.py).
# Bytecode compiled here, as PYTHONDONTWRITEBYTECODE keeps the processes from writing it: the
# workflow sandbox re-imports workflows/ for every case it loads, and without a .pyc compiles
# the source each time (a third of the worker's CPU in an escalation storm: bench/README.md).
COPY . .
RUN pip install --no-deps . \
    && python -m compileall -q /app \
    && mkdir -p /app/.data /data/uploads \
    && chown -R caseloop:caseloop /app/.data /data

USER caseloop
EXPOSE 8000 9464
CMD ["uvicorn", "api:app", "--host", "0.0.0.0", "--port", "8000", "--no-proxy-headers"]
