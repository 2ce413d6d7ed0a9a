# A Celery worker image for the `workers` app; compose.yaml runs one container per queue.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Only what `pip install .` needs: there is no .dockerignore, and .venv must stay out.
COPY pyproject.toml README.md ./
COPY workers ./workers
COPY desktop ./desktop
RUN pip install .

# Celery warns against running workers as root; the worker needs no writable files here.
RUN useradd --create-home --uid 10001 --user-group celery
USER celery

CMD ["celery", "-A", "workers", "worker", "-Q", "tasks", "-l", "INFO", "-E"]
