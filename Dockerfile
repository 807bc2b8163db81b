# icx: `icx serve` (Slack, Teams, intake API, background jobs) on port 3000.
#   docker build -t icx .
#   docker run --rm icx db upgrade   (with the same environment: once per release, first)
# Configuration comes only from the environment (README: Configuration, Running it).
# Needs BuildKit (the default builder since Docker 23) for the bind mount below.

ARG PYTHON_IMAGE=python:3.12-slim-bookworm

# --- build: icx's wheel and every dependency's wheel ------------------------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bots ./bots
COPY core ./core
COPY storage ./storage
# Every dependency publishes manylinux wheels: no compiler is needed, here or below.
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# --- runtime: the wheels installed, no sources, no build tools, no pip ----------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATABASE_URL=sqlite:////var/lib/icx/icx.db \
    ICX_CONFIG=/etc/icx/departments.yml
# The wheels are mounted for the install only, so no layer keeps a copy of them; pip goes
# afterwards, as nothing at run time installs anything.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index /wheels/*.whl \
    && pip uninstall --yes pip \
    && groupadd --system --gid 10001 icx \
    && useradd --system --uid 10001 --gid icx --home-dir /var/lib/icx --no-log-init icx \
    && mkdir -p /var/lib/icx /etc/icx \
    && chown icx:icx /var/lib/icx
# SQLite's database file (single replica only); with PostgreSQL this stays empty.
VOLUME ["/var/lib/icx"]
WORKDIR /var/lib/icx
USER 10001:10001
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-m", "bots.ops.probe"]
ENTRYPOINT ["icx"]
CMD ["serve"]
