# One image for web, worker and beat (docker-compose.yml picks the command).
FROM python:3.13-slim

ENV DJANGO_DEBUG=false \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ALLIANCE_VAR_DIR=/app/var

WORKDIR /app
RUN groupadd --system alliance && useradd --system --gid alliance --home /app alliance

COPY requirements.lock ./
RUN pip install --require-hashes --no-deps -r requirements.lock

COPY . .
# collectstatic needs settings that import; these values exist only for this build step.
RUN DJANGO_SECRET_KEY=collectstatic-only DJANGO_ALLOWED_HOSTS=localhost \
    python manage.py collectstatic --noinput \
 && mkdir -p /app/var && chown -R alliance:alliance /app/var

USER alliance
EXPOSE 8000
CMD ["gunicorn", "alliance_crm.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
