# The Debian release is named, not implied: the PostgreSQL apt source below follows its codename.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    WEB_CONCURRENCY=2

# pg_dump and pg_restore for `manage.py backup` and `restore`, at the major version of the
# PostgreSQL server (docker-compose.yml's postgres:16-alpine): Debian's own client is 15, and
# pg_dump refuses a newer server. From the PostgreSQL project's apt repository, set up as its
# instructions say: its key fetched over HTTPS and trusted for that source only. curl is needed
# for this step alone and removed in it; the build fails unless pg_dump is then that major version.
ARG POSTGRES_CLIENT_MAJOR=16
# Unpinned on purpose: the repository keeps only the newest minor release of each major.
# hadolint ignore=DL3008
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends ca-certificates curl; \
    install -d /usr/share/postgresql-common/pgdg; \
    curl --proto '=https' --tlsv1.2 -fsSL -o /usr/share/postgresql-common/pgdg/apt.postgresql.org.asc \
        https://www.postgresql.org/media/keys/ACCC4CF8.asc; \
    . /etc/os-release; \
    echo "deb [signed-by=/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc] https://apt.postgresql.org/pub/repos/apt ${VERSION_CODENAME}-pgdg main" \
        > /etc/apt/sources.list.d/pgdg.list; \
    apt-get update; \
    apt-get install -y --no-install-recommends "postgresql-client-${POSTGRES_CLIENT_MAJOR}"; \
    apt-get purge -y --auto-remove curl; \
    rm -rf /var/lib/apt/lists/*; \
    case "$(pg_dump --version)" in *"(PostgreSQL) ${POSTGRES_CLIENT_MAJOR}."*) ;; *) exit 1 ;; esac

RUN groupadd --gid 1000 app && useradd --create-home --uid 1000 --gid 1000 app

WORKDIR /app

COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY . .

# Production settings refuse to load without these; they exist for this step only.
RUN DEBUG=0 SECRET_KEY=collectstatic-build-only ALLOWED_HOSTS=localhost \
        PUBLIC_BASE_URL=http://localhost FIELD_ENCRYPTION_KEYS=collectstatic-build-only \
        python manage.py collectstatic --noinput \
    && mkdir -p var media /var/lib/marketing-metrics \
    && chown -R app:app var media /var/lib/marketing-metrics

# Numeric, so that Kubernetes' runAsNonRoot can tell it is not root.
USER 1000:1000

EXPOSE 8000

# Sends the first ALLOWED_HOSTS entry as Host, so the probe is not rejected as DisallowedHost.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as r; h = os.environ.get('ALLOWED_HOSTS', '').split(',')[0].strip().lstrip('.'); r.urlopen(r.Request('http://127.0.0.1:8000/healthz', headers={'Host': h if h not in ('', '*') else 'localhost'}), timeout=4)"]

# Worker count comes from WEB_CONCURRENCY; --threads above 1 selects gthread workers.
CMD ["gunicorn", "marketing.wsgi:application", \
     "--bind", "0.0.0.0:8000", \
     "--threads", "4", \
     "--timeout", "60", \
     "--graceful-timeout", "30", \
     "--keep-alive", "5", \
     "--max-requests", "1000", \
     "--max-requests-jitter", "100", \
     "--worker-tmp-dir", "/dev/shm", \
     "--access-logfile", "-", \
     "--error-logfile", "-"]
