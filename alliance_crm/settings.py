"""Alliance CRM settings: one module, every value read from the environment.

Production unless the environment says otherwise: ``DEBUG`` is off unless ``DJANGO_DEBUG=true``, and with it
off the app refuses to start without a secret key and allowed hosts. ``make run`` and the test suite turn it on;
the development values need no server (SQLite and kombu's filesystem broker under ``var/``).
"""

from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)
VAR_DIR = Path(env.str("ALLIANCE_VAR_DIR", default=str(BASE_DIR / "var")))

DEBUG = env.bool("DJANGO_DEBUG", default=False)

# --- Secrets and hosts -------------------------------------------------------------------------
if DEBUG:
    SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="dev-only-insecure-key-never-used-in-production")
    ALLOWED_HOSTS = env.list(
        "DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"]
    )
else:
    SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
    ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=[])
    if not SECRET_KEY:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG=false."
            " Settings default to production; for development run through make, or set DJANGO_DEBUG=true"
            " (in the environment or .env)."
        )
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must be set when DJANGO_DEBUG=false.")

CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

# --- Applications --------------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "axes",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "crispy_forms",
    "crispy_bootstrap5",
    "ninja",  # the API's docs page: its vendored Swagger UI (static/ninja/), no CDN
    # Ours, lowest floor first (see DESIGN.md: a lower app never imports a higher one).
    "accounts",
    "patients",
    "nudges",
    "journeys",
    "compliance",
    "dashboard",
    "api",
]

MIDDLEWARE = [
    "alliance_crm.hygiene.HeaderHygieneMiddleware",  # no NUL in a header anything stores
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django_htmx.middleware.HtmxMiddleware",  # request.htmx: the one answer to "did htmx ask?"
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "accounts.middleware.AuditContextMiddleware",  # who and where, for the audit trail
    "alliance_crm.privacy.PrivacyHeadersMiddleware",  # no-store on signed-in and patient-link pages
    "django.contrib.messages.middleware.MessageMiddleware",
    "accounts.middleware.SessionPolicyMiddleware",  # idle timeout, absolute lifetime, sessions per user
    "accounts.middleware.SecondFactorMiddleware",  # a signed-in page needs a session that passed TOTP
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last: it answers a locked-out sign-in with our page
]

ROOT_URLCONF = "alliance_crm.urls"
WSGI_APPLICATION = "alliance_crm.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            # {% route %} and {% id_url %} in every template: links reversed once, not per page (accounts.links).
            "builtins": ["accounts.templatetags.links"],
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",  # csp_nonce, for a <script nonce> if ever needed
                "alliance_crm.context_processors.clinic",
                "accounts.context_processors.session_timeout",
                "accounts.context_processors.second_factor",
                "compliance.context_processors.navigation",  # the open-alert count, read lazily
            ],
        },
    },
]

# --- Database ------------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'alliance.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=0)
# A reused connection is tested before a request uses it, so a database restart costs one reconnect, not errors.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = DATABASES["default"]["CONN_MAX_AGE"] != 0
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the web process, the worker and beat share the file.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and not env.bool(
    "DATABASE_JIT", default=False
):
    # PostgreSQL's JIT spent 1.4–4.6 s compiling the subquery-heavy list plans at 100,000 patients and saved
    # nothing on queries that take milliseconds once indexed; DATABASE_JIT=true turns it back on.
    options = DATABASES["default"].setdefault("OPTIONS", {})
    options["options"] = f"{options.get('options', '')} -c jit=off".strip()
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth ----------------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # refuses sign-in while an account/address pair is locked out
    # allauth's (a ModelBackend that knows allauth's sign-in flow), with each request's read of the user compiled
    # once per thread. A session signed in under another backend's path is signed out.
    "accounts.backends.AuthenticationBackend",
]
# Sign-in throttling (django-axes, accounts/throttle.py): wrong passwords are counted per address across
# usernames and per username across addresses. AXES_FAILURE_LIMIT failures for one username (from anywhere),
# or AXES_IP_FAILURE_LIMIT failures from one address (for any usernames), pause sign-in for that username or
# that address for AXES_COOLOFF_MINUTES. The right password clears that username's count. An admin unlocks
# early in admin (Axes → Access attempts) or with `manage.py axes_reset_username NAME` / `axes_reset_ip ADDR`.
AXES_HANDLER = "accounts.throttle.ThrottleHandler"
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_IP_FAILURE_LIMIT = env.int("AXES_IP_FAILURE_LIMIT", default=20)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["ip_address"], ["username"]]
AXES_RESET_ON_SUCCESS = True
AXES_USERNAME_CALLABLE = "accounts.throttle.throttle_username"
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_CLIENT_IP_CALLABLE = "accounts.audit.client_address"  # the same address the audit trail keeps
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "dashboard:today"
LOGOUT_REDIRECT_URL = "accounts:login"
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator",
        "OPTIONS": {"user_attributes": ("username", "display_name", "email")},
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Sign-in, two factors and password reset (django-allauth with its mfa app). Accounts are made by an
# admin: nobody signs up, nobody signs in with a password alone (accounts.middleware.SecondFactorMiddleware).
ACCOUNT_ADAPTER = "accounts.signin.AccountAdapter"
ACCOUNT_FORMS = {"login": "accounts.forms.SignInForm"}
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "email", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = "username"
ACCOUNT_USER_MODEL_EMAIL_FIELD = "email"
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_SESSION_REMEMBER = False  # no "remember me": a session ends with the browser or the timeouts below
ACCOUNT_PREVENT_ENUMERATION = True  # password reset answers the same for every address
ACCOUNT_EMAIL_UNKNOWN_ACCOUNTS = False  # …and writes to no address that has no account
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False  # a new password still needs the second factor to sign in
ACCOUNT_EMAIL_SUBJECT_PREFIX = ""
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "http" if DEBUG else "https"
# Wrong passwords are throttled by django-axes (above), which the adapter leaves alone (AccountAdapter.
# pre_authenticate). allauth's limit on sign-in posts of any kind stays as a flood guard, set above axes'
# address limit so that a locked address gets the "Sign-in paused" page and a clinic's morning is not cut off.
ACCOUNT_RATE_LIMITS = {"login": "120/m/ip"}
MFA_ADAPTER = "accounts.signin.MFAAdapter"
# TOTP keys are stored encrypted with a key derived from this; set it apart from DJANGO_SECRET_KEY so that
# rotating that one does not make every enrolled app useless.
MFA_SECRET_KEY = env.str("MFA_SECRET_KEY", default=SECRET_KEY)
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = env.str("MFA_TOTP_ISSUER", default="Alliance CRM")
MFA_RECOVERY_CODE_COUNT = 10
MFA_TOTP_TOLERANCE = 1  # the code of the 30 seconds before or after also counts: phones' clocks drift
# Enrolment follows the password straight away at first sign-in; re-entering it there would add nothing.
MFA_REAUTHENTICATION_REQUIRED = False

# The cache holds allauth's rate limits (wrong passwords and codes) and the TOTP codes already used, so that a
# code works once: with more than one web process it must be shared (redis://host:6379/1).
CACHES = {"default": env.cache("DJANGO_CACHE_URL", default="locmemcache://")}

# Sessions: signed out after SESSION_IDLE_TIMEOUT_SECONDS without a request (the page warns a minute
# before and offers to stay signed in), and after SESSION_ABSOLUTE_LIFETIME_SECONDS whatever happens.
SESSION_IDLE_TIMEOUT_SECONDS = env.int("SESSION_IDLE_TIMEOUT_SECONDS", default=15 * 60)
SESSION_IDLE_WARNING_SECONDS = env.int("SESSION_IDLE_WARNING_SECONDS", default=60)
SESSION_ABSOLUTE_LIFETIME_SECONDS = env.int("SESSION_ABSOLUTE_LIFETIME_SECONDS", default=60 * 60 * 10)
SESSION_COOKIE_AGE = env.int("DJANGO_SESSION_COOKIE_AGE", default=SESSION_ABSOLUTE_LIFETIME_SECONDS)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_ENGINE = "accounts.session_store"  # Django's database sessions, read by one statement written once

# The client's address (audit trail, sign-in throttling, the inquiry limit): how many reverse proxies
# we run in front of the app. 0 = the connection's address; N = the Nth X-Forwarded-For entry from the
# right (accounts.audit.client_address). AUDIT_TRUST_X_FORWARDED_FOR=true is the deprecated spelling of 1.
TRUSTED_PROXY_HOPS = env.int(
    "TRUSTED_PROXY_HOPS", default=1 if env.bool("AUDIT_TRUST_X_FORWARDED_FOR", default=False) else 0
)
if TRUSTED_PROXY_HOPS < 0:
    raise ImproperlyConfigured("TRUSTED_PROXY_HOPS must be 0 or more.")

# --- Browser security headers ---------------------------------------------------------------------
# Only our own static files run: no inline scripts, styles or style="" attributes (templates use classes
# and static/js/alliance.js), no eval (htmx's allowEval is off). A nonce is allowed for scripts and styles
# that really must be inline: <script nonce="{{ csp_nonce }}">. Bootstrap draws some icons as data: images.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True

# --- Internationalisation ------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("CLINIC_TIME_ZONE", default="America/New_York")
USE_I18N = True
USE_TZ = True

CLINIC_NAME = env.str("CLINIC_NAME", default="Alliance Functional Medicine")
PHONE_DEFAULT_REGION = env.str("PHONE_DEFAULT_REGION", default="US")

# --- Static files --------------------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.str("DJANGO_STATIC_ROOT", default=str(VAR_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# --- Email (Django 6.1 MAILERS) -----------------------------------------------------------------
# How long the email and SMS transports wait on the provider; the outbox's lease is set from it (below).
NUDGE_TRANSPORT_TIMEOUT_SECONDS = env.float("NUDGE_TRANSPORT_TIMEOUT_SECONDS", default=20.0)
EMAIL_BACKEND_PATH = env.str(
    "DJANGO_EMAIL_BACKEND",
    default="nudges.devmail.ReadableFileEmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
if EMAIL_BACKEND_PATH.endswith(("filebased.EmailBackend", "devmail.ReadableFileEmailBackend")):
    _mailer_options = {"file_path": env.str("DJANGO_EMAIL_FILE_PATH", default=str(VAR_DIR / "mail"))}
elif EMAIL_BACKEND_PATH.endswith("smtp.EmailBackend"):
    _mailer_options = {
        "host": env.str("EMAIL_HOST", default="localhost"),
        "port": env.int("EMAIL_PORT", default=25),
        "username": env.str("EMAIL_HOST_USER", default=""),
        "password": env.str("EMAIL_HOST_PASSWORD", default=""),
        "use_tls": env.bool("EMAIL_USE_TLS", default=False),
        "timeout": NUDGE_TRANSPORT_TIMEOUT_SECONDS,
    }
else:
    _mailer_options = {}
MAILERS = {"default": {"BACKEND": EMAIL_BACKEND_PATH, "OPTIONS": _mailer_options}}
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Alliance CRM <care@clinic.invalid>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Nudges (the outbox) ------------------------------------------------------------------------
# Production has no pretend transports and no local links: nudges.checks makes each an error unless this
# deployment says it is a demo. In development the defaults below write to var/ and link to runserver.
ALLIANCE_DEMO_DEPLOYMENT = env.bool("ALLIANCE_DEMO_DEPLOYMENT", default=False)
# Django's own deploy check refuses console/file email too; a demo may use them on purpose.
SILENCED_SYSTEM_CHECKS = ["mail.E001"] if ALLIANCE_DEMO_DEPLOYMENT else []
# The address patients' links point at (unsubscribe, check-in): the dashboard's public URL. In development it is
# the port `make run` serves on (PORT), so moving the port moves every link in var/mail with it.
DEVELOPMENT_PORT = env.int("PORT", default=8000)
ALLIANCE_SITE_URL = env.str(
    "ALLIANCE_SITE_URL", default=f"http://127.0.0.1:{DEVELOPMENT_PORT}" if DEBUG else ""
).rstrip("/")
CLINIC_REPLY_TO = env.str("CLINIC_REPLY_TO", default="")
CLINIC_PHONE = env.str("CLINIC_PHONE", default="")
# Email replies: each nudge email's Reply-To is reply+<nudge>-<proof>@INBOUND_EMAIL_DOMAIN; the provider posts what
# arrives there to /hooks/email/inbound/, signed with INBOUND_EMAIL_SECRET (nudges.webhooks.email_inbound).
INBOUND_EMAIL_DOMAIN = env.str("INBOUND_EMAIL_DOMAIN", default="")
INBOUND_EMAIL_SECRET = env.str("INBOUND_EMAIL_SECRET", default="")
# A known patient's request on the public form for texts, with their SMS consent withdrawn, is confirmed by one
# text asking them to reply YES (nudges.services.consent_ask_by_text); false: the request waits for the team.
CONSENT_ASK_BY_TEXT = env.bool("CONSENT_ASK_BY_TEXT", default=True)
SMS_BACKEND = env.str("SMS_BACKEND", default="nudges.channels.FileSmsBackend" if DEBUG else "")
SMS_FILE_PATH = env.str("SMS_FILE_PATH", default=str(VAR_DIR / "sms"))
TWILIO_ACCOUNT_SID = env.str("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env.str("TWILIO_AUTH_TOKEN", default="")
TWILIO_FROM_NUMBER = env.str("TWILIO_FROM_NUMBER", default="")
TWILIO_MESSAGING_SERVICE_SID = env.str("TWILIO_MESSAGING_SERVICE_SID", default="")
TWILIO_API_BASE = env.str("TWILIO_API_BASE", default="https://api.twilio.com")
TWILIO_TIMEOUT_SECONDS = env.float("TWILIO_TIMEOUT_SECONDS", default=NUDGE_TRANSPORT_TIMEOUT_SECONDS)
NUDGE_BATCH_SIZE = env.int("NUDGE_BATCH_SIZE", default=200)
NUDGE_MAX_ATTEMPTS = env.int("NUDGE_MAX_ATTEMPTS", default=5)
# A nudge's lease: a batch's claim on it (renewed while the batch runs), or its own send once taken. Past it,
# the reconciler puts a claimed, never-taken nudge back to pending and marks a taken one unknown. It outlasts
# the transport's timeout by 40 s (60 s by default); with the reconcile every minute, a send that truly
# stopped half-way is in To review within two minutes.
NUDGE_SENDING_LEASE_SECONDS = env.int(
    "NUDGE_SENDING_LEASE_SECONDS", default=int(NUDGE_TRANSPORT_TIMEOUT_SECONDS) + 40
)
NUDGE_RECONCILE_SECONDS = env.float("NUDGE_RECONCILE_SECONDS", default=60.0)
NUDGE_DISPATCH_SECONDS = env.float("NUDGE_DISPATCH_SECONDS", default=60.0)
# At most this many automated messages per patient in any rolling 7 days (visit reminders and one-offs
# exempt); 0 switches the budget off. See nudges/budget.py.
NUDGE_WEEKLY_BUDGET = env.int("NUDGE_WEEKLY_BUDGET", default=3)

# --- Celery --------------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    # kombu creates none of these folders; alliance_crm.celery makes them before the app connects.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(VAR_DIR / "broker" / "queue"),
        "data_folder_out": str(VAR_DIR / "broker" / "queue"),
        "processed_folder": str(VAR_DIR / "broker" / "processed"),
        "control_folder": str(VAR_DIR / "broker" / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Workers survive their broker: through a Redis outage of any length they keep retrying (Celery's default
# gives up after 100 tries, about 50 minutes) and take work again when it returns, with nobody acting.
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# A task running when the broker goes away finishes its sends (cancelling mid-send would leave nudges
# "unknown" for a person to review). It concerns late-acknowledged tasks only (none, below); said explicitly
# because Celery 6 changes the default.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="") or None
CELERY_TASK_IGNORE_RESULT = CELERY_RESULT_BACKEND is None
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=5 * 60)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=4 * 60)
# A message is acknowledged as its task starts, and a worker takes one only when a process is free: then
# no message waits unacknowledged in the worker, and a Redis outage finds none. (With unacknowledged messages
# kombu 5.7's Redis transport crashes the worker as it drops the lost connection: "Unrecoverable error:
# AttributeError('NoneType' object has no attribute 'hostname')".) Nothing is lost by acknowledging early:
# the outbox, not the broker, decides what is sent, and the next dispatch finds what a dead worker left.
CELERY_TASK_ACKS_LATE = False
CELERY_TASK_REJECT_ON_WORKER_LOST = False  # the outbox, not the broker, decides what is resent
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_DISABLE_PREFETCH = CELERY_BROKER_URL.startswith(("redis://", "rediss://"))  # Redis only
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULER = "nudges.beat:Scheduler"  # beat's own, writing "beat last seen" as it schedules
# /healthz answers 503 when the worker's or beat's heartbeat is older than this.
HEALTH_HEARTBEAT_STALE_SECONDS = env.int("HEALTH_HEARTBEAT_STALE_SECONDS", default=180)
# Insights' usual ranges and the pipeline's flow are counted by beat this often (dashboard.figures); a view
# uses them while they are younger than twice this, else counts its own.
FIGURES_REFRESH_SECONDS = env.int("FIGURES_REFRESH_SECONDS", default=600)
CELERY_BEAT_SCHEDULE = {
    "heartbeat": {
        "task": "nudges.heartbeat",
        "schedule": env.float("CELERY_HEARTBEAT_SECONDS", default=30.0),
    },
    "dispatch-due-nudges": {"task": "nudges.dispatch_due", "schedule": NUDGE_DISPATCH_SECONDS},
    "reconcile-stuck-nudges": {"task": "nudges.reconcile", "schedule": NUDGE_RECONCILE_SECONDS},
    "mark-missed-checkins": {"task": "compliance.mark_missed", "schedule": 900.0},
    "detect-faltering": {"task": "compliance.detect_faltering", "schedule": 3600.0},
    "refresh-figures": {"task": "dashboard.refresh_figures", "schedule": float(FIGURES_REFRESH_SECONDS)},
    # The audit trail's head in the log and to AUDIT_HEAD_MAIL_TO, once a day (verify_audit --expect-head).
    "audit-head": {"task": "accounts.audit_head", "schedule": crontab(hour=6, minute=0)},
    "dispatch-webhooks": {
        "task": "api.dispatch_webhooks",
        "schedule": env.float("WEBHOOK_DISPATCH_SECONDS", default=30.0),
    },
}

# --- The API, FHIR export and webhooks (api/) ------------------------------------------------------
API_RATE_PER_MINUTE = env.int("API_RATE_PER_MINUTE", default=120)  # per key; past it: 429
API_PAGE_SIZE = 50
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=6)  # then the delivery gives up
WEBHOOK_SENDING_LEASE_SECONDS = 120  # a claim older than this (the dispatcher died mid-request): unknown
AUDIT_HEAD_MAIL_TO = env.list("AUDIT_HEAD_MAIL_TO", default=[])

# --- Logging -------------------------------------------------------------------------------------
# Patient-link tokens (/c/…, /u/…, /consent/confirm/…) are masked in every line the handlers write:
# django.request and django.server log request paths. gunicorn's access log has its own masking logger
# (alliance_crm.gunicorn_logging.MaskedLogger, set in the Dockerfile and docker-compose.yml).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"mask_tokens": {"()": "alliance_crm.privacy.MaskTokensFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["mask_tokens"]}
    },
    "root": {"handlers": ["console"], "level": env.str("DJANGO_LOG_LEVEL", default="INFO")},
    "loggers": {
        # Django's own defaults would give "django" and "django.server" handlers without the filter.
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.db.backends": {"level": "WARNING"},
    },
}

# --- Production hardening ------------------------------------------------------------------------
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
    # /healthz is probed over plain HTTP by the load balancer and container health checks.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
