FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    WEB_CONCURRENCY=2

RUN useradd --create-home --uid 1000 --user-group app

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

USER app

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
