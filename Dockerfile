# Caseloop image: the web/API service and the worker (docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

RUN useradd --system --uid 10001 --create-home --home-dir /home/caseloop caseloop

# Dependencies first (their layer survives code changes): read them from pyproject.toml.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The code runs from /app (uvicorn api:app, python worker.py, python scripts/run.py).
COPY . .
RUN pip install --no-deps . \
    && mkdir -p /app/.data /data/uploads \
    && chown -R caseloop:caseloop /app/.data /data

USER caseloop
EXPOSE 8000 9464
CMD ["uvicorn", "api:app", "--host", "0.0.0.0", "--port", "8000", "--no-proxy-headers"]
