"""Issue 17's table: `.env` lines shaped from the vendors' documented token formats.

Every token here is made up: the bodies come from a seeded random generator at import time,
in the documented shape (prefix, alphabet, length), so no real secret is in the source and
no push-protection scanner sees a complete token in it. Each row is (line, level, family):
level is what `grove validate` must report for that line alone ("error", "warning" or
"none"); family names what the line is an example of.
"""

from __future__ import annotations

import base64
import random
import string

_rng = random.Random(17)

B62 = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
B64URL = B62 + "-_"
B64 = B62 + "+/"
_MARKS = ("example", "your", "change", "placeholder", "redacted", "replace", "dummy")
_MARKS += ("sample", "fake", "xxxx", "0000", "1234")


def tok(alphabet: str, n: int) -> str:
    """n random characters; never one that reads as a placeholder, and from a mixed
    alphabet always with upper case, lower case and a digit (as real tokens have)."""
    while True:
        s = "".join(_rng.choice(alphabet) for _ in range(n))
        if any(m in s.lower() for m in _MARKS):
            continue
        mixed = any(c.isupper() for c in alphabet) and any(c.islower() for c in alphabet)
        if mixed and not (
            any(c.isupper() for c in s)
            and any(c.islower() for c in s)
            and any(c.isdigit() for c in s)
        ):
            continue
        return s


def uuid() -> str:
    h = tok(HEX, 32)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def jwt(payload: str) -> str:
    head = b64url(b'{"alg":"HS256","typ":"JWT"}')
    return f"{head}.{b64url(payload.encode())}.{tok(B64URL, 43)}"


def pem_b64(kind: str) -> str:
    body = "\n".join(tok(B64, 64) for _ in range(3))
    return b64(f"-----BEGIN {kind}-----\n{body}\n-----END {kind}-----\n".encode())


def aws_secret() -> str:
    return tok(B64, 40)


LIVE = "_live_"  # split so no complete live-key literal sits in this file
PROD = "-production-"

Row = tuple[str, str, str]

ERRORS: list[Row] = [
    # Stripe live keys
    (f"STRIPE_SECRET_KEY=sk{LIVE}{tok(B62, 24)}", "error", "stripe-live"),
    (f'STRIPE_API_KEY="sk{LIVE}51{tok(B62, 96)}"', "error", "stripe-live"),
    (f"export STRIPE_KEY=sk{LIVE}{tok(B62, 99)}", "error", "stripe-live"),
    (f"STRIPE_RESTRICTED_KEY=rk{LIVE}{tok(B62, 24)}", "error", "stripe-live"),
    (f"STRIPE_READ_KEY='rk{LIVE}51{tok(B62, 96)}'", "error", "stripe-live"),
    # `_live_` keys of other vendors
    (f"RAZORPAY_KEY_ID=rzp{LIVE}{tok(B62, 14)}", "error", "live-key"),
    (f"RAZORPAY_KEY_SECRET=rzp{LIVE}{tok(B62, 24)}", "error", "live-key"),
    (f"OMISE_SECRET_KEY=skey{LIVE}{tok(B62, 19)}", "error", "live-key"),
    (f"MOLLIE_API_KEY=live_{tok(B62, 30)}", "error", "live-key"),
    (f"SHIPPO_API_TOKEN=shippo{LIVE}{tok(HEX, 40)}", "error", "live-key"),
    (f"PAYSTACK_SECRET_KEY=sk{LIVE}{tok(HEX, 40)}", "error", "live-key"),
    (f"CONEKTA_PRIVATE_KEY=key{LIVE}{tok(B62, 24)}", "error", "live-key"),
    (f"CULQI_SECRET=sk{LIVE}{tok(B62, 16)}", "error", "live-key"),
    # Plaid tokens marked production
    (f"PLAID_ACCESS_TOKEN=access{PROD}{uuid()}", "error", "plaid-production"),
    (f"PLAID_PUBLIC_TOKEN=public{PROD}{uuid()}", "error", "plaid-production"),
    (f"PLAID_LINK_TOKEN=link{PROD}{uuid()}", "error", "plaid-production"),
    (f"PLAID_PROCESSOR_TOKEN=processor{PROD}{uuid()}", "error", "plaid-production"),
    # Braintree production tokens
    (
        f"BRAINTREE_ACCESS_TOKEN=access_token$production${tok('abcdefghij0123456789', 16)}"
        f"${tok(HEX, 32)}",
        "error",
        "braintree-production",
    ),
    # dotenvx production keys
    (f"DOTENV_PRIVATE_KEY_PRODUCTION={tok(HEX, 64)}", "error", "dotenvx-production"),
    (f'DOTENV_PRIVATE_KEY_PROD="{tok(HEX, 64)}"', "error", "dotenvx-production"),
    # production hosts
    (
        f"DATABASE_URL=postgres://app:{tok(B62, 16)}@db.prod.acme-corp.com:5432/app",
        "error",
        "production-host",
    ),
    ("API_BASE_URL=https://api.production.acme-corp.com/v2", "error", "production-host"),
    ("REDIS_HOST=cache-prd.acme-corp.net", "error", "production-host"),
    (
        f"MONGO_URL=mongodb://svc:{tok(B62, 20)}@mongo.prod.acme-corp.io/orders",
        "error",
        "production-host",
    ),
]

WARNINGS: list[Row] = [
    # Twilio
    (f"TWILIO_API_KEY=SK{tok(HEX, 32)}", "warning", "twilio"),
    (f"TWILIO_API_KEY_SID=SK{tok(HEX, 32)}", "warning", "twilio"),
    (f"TWILIO_AUTH_TOKEN={tok(HEX, 32)}", "warning", "twilio"),
    (f'TWILIO_AUTH_TOKEN="{tok(HEX, 32)}"', "warning", "twilio"),
    (f"TWILIO_API_SECRET={tok(B62, 32)}", "warning", "twilio"),
    # SendGrid
    (f"SENDGRID_API_KEY=SG.{tok(B64URL, 22)}.{tok(B64URL, 43)}", "warning", "sendgrid"),
    (f"SMTP_PASSWORD=SG.{tok(B64URL, 22)}.{tok(B64URL, 43)}", "warning", "sendgrid"),
    (
        f"SMTP_URL=smtp://apikey:SG.{tok(B64URL, 22)}.{tok(B64URL, 43)}@smtp.sendgrid.net:587",
        "warning",
        "sendgrid",
    ),
    (
        f"EMAIL_URL=smtps://apikey:SG.{tok(B64URL, 22)}.{tok(B64URL, 43)}@smtp.sendgrid.net:465",
        "warning",
        "sendgrid",
    ),
    # Mailgun
    (f"MAILGUN_API_KEY=key-{tok(HEX, 32)}", "warning", "mailgun"),
    (f"MAILGUN_PRIVATE_KEY=key-{tok(HEX, 32)}", "warning", "mailgun"),
    (f"MAILGUN_KEY={tok(HEX, 32)}-{tok(HEX, 8)}-{tok(HEX, 8)}", "warning", "mailgun"),
    # Google
    (f"GOOGLE_MAPS_API_KEY=AIza{tok(B64URL, 35)}", "warning", "google"),
    (f"NEXT_PUBLIC_FIREBASE_API_KEY=AIza{tok(B64URL, 35)}", "warning", "google"),
    (f"GOOGLE_CLIENT_SECRET=GOCSPX-{tok(B64URL, 28)}", "warning", "google"),
    (f'AUTH_GOOGLE_SECRET="GOCSPX-{tok(B64URL, 28)}"', "warning", "google"),
    # JWTs and JWT signing secrets
    (
        "SUPABASE_SERVICE_ROLE_KEY=" + jwt('{"role":"service_role","iss":"supabase"}'),
        "warning",
        "jwt",
    ),
    ("API_TOKEN=" + jwt('{"sub":"ci-bot","scope":"admin"}'), "warning", "jwt"),
    ("AUTH_BEARER=" + jwt('{"sub":"svc","aud":"api","exp":4102444800}'), "warning", "jwt"),
    (f"JWT_SECRET={tok(B62, 48)}", "warning", "jwt"),
    (f"JWT_SIGNING_KEY={tok(HEX, 64)}", "warning", "jwt"),
    (f'AUTH_JWT_SECRET="{tok(B64, 44)}"', "warning", "jwt"),
    # Hugging Face
    (f"HF_TOKEN=hf_{tok(B62, 34)}", "warning", "huggingface"),
    (f"HUGGING_FACE_HUB_TOKEN=hf_{tok(B62, 34)}", "warning", "huggingface"),
    # npm
    (f"NPM_TOKEN=npm_{tok(B62, 36)}", "warning", "npm"),
    (f"NODE_AUTH_TOKEN=npm_{tok(B62, 36)}", "warning", "npm"),
    # Square
    (f"SQUARE_ACCESS_TOKEN=EAAA{tok(B64URL, 60)}", "warning", "square"),
    (f"SQUARE_TOKEN=EAAA{tok(B64URL, 60)}", "warning", "square"),
    (f"SQUARE_APPLICATION_SECRET=sq0csp-{tok(B64URL, 43)}", "warning", "square"),
    (f"SQUARE_PERSONAL_TOKEN=sq0atp-{tok(B64URL, 22)}", "warning", "square"),
    # Stripe webhook signing secrets
    (f"STRIPE_WEBHOOK_SECRET=whsec_{tok(B62, 32)}", "warning", "stripe-webhook"),
    (f"STRIPE_SIGNING_SECRET=whsec_{tok(B62, 64)}", "warning", "stripe-webhook"),
    # Slack app-level tokens, bot tokens and webhooks
    (
        f"SLACK_APP_TOKEN=xapp-1-A{tok(string.ascii_uppercase + string.digits, 10)}-"
        f"{tok(string.digits, 13)}-{tok(HEX, 64)}",
        "warning",
        "slack",
    ),
    (
        f"SOCKET_MODE_TOKEN=xapp-1-A{tok(string.ascii_uppercase + string.digits, 10)}-"
        f"{tok(string.digits, 13)}-{tok(HEX, 64)}",
        "warning",
        "slack",
    ),
    (
        f"SLACK_BOT_TOKEN=xoxb-{tok(string.digits, 12)}-{tok(string.digits, 13)}-{tok(B62, 24)}",
        "warning",
        "slack",
    ),
    (
        f"SLACK_WEBHOOK_URL=https://hooks.slack.com/services/T{tok('ABCDEFGHJK' + '23456789', 8)}"
        f"/B{tok('ABCDEFGHJK' + '23456789', 10)}/{tok(B62, 24)}",
        "warning",
        "slack",
    ),
    (
        f"ALERTS_WEBHOOK=https://hooks.slack.com/services/T{tok('ABCDEFGHJK' + '23456789', 10)}"
        f"/B{tok('ABCDEFGHJK' + '23456789', 10)}/{tok(B62, 24)}",
        "warning",
        "slack",
    ),
    # base64-encoded PEM private keys
    (f"JWT_PRIVATE_KEY_BASE64={pem_b64('RSA PRIVATE KEY')}", "warning", "private-key-base64"),
    (f"GITHUB_APP_PRIVATE_KEY={pem_b64('PRIVATE KEY')}", "warning", "private-key-base64"),
    (f'SSH_KEY_B64="{pem_b64("OPENSSH PRIVATE KEY")}"', "warning", "private-key-base64"),
    (f"APNS_KEY_B64={pem_b64('EC PRIVATE KEY')}", "warning", "private-key-base64"),
    # AWS secret access keys under any name
    (f"AWS_SECRET_ACCESS_KEY={aws_secret()}", "warning", "aws-secret"),
    (f"S3_SECRET={aws_secret()}", "warning", "aws-secret"),
    (f"BACKUP_STORAGE_KEY={aws_secret()}", "warning", "aws-secret"),
    (f'MINIO_ROOT_PASSWORD="{aws_secret()}"', "warning", "aws-secret"),
    (
        f"AWS_ACCESS_KEY_ID=AKIA{tok('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', 16)}",
        "warning",
        "aws-secret",
    ),
    # commented-out live keys and credentials
    (f"# STRIPE_SECRET_KEY=sk{LIVE}{tok(B62, 24)}", "warning", "commented-out"),
    (f"#STRIPE_SECRET_KEY=sk{LIVE}{tok(B62, 24)}", "warning", "commented-out"),
    (f"# export GITHUB_TOKEN=ghp_{tok(B62, 36)}", "warning", "commented-out"),
    (f"## OPENAI_API_KEY=sk-proj-{tok(B64URL, 48)}", "warning", "commented-out"),
    (f'# SENDGRID_API_KEY="SG.{tok(B64URL, 22)}.{tok(B64URL, 43)}"', "warning", "commented-out"),
    (f"  # RAZORPAY_KEY_SECRET=rzp{LIVE}{tok(B62, 24)}", "warning", "commented-out"),
    (f"# old key, revoke: sk{LIVE}{tok(B62, 24)}", "warning", "commented-out"),
    (f"# staging used npm_{tok(B62, 36)} until March", "warning", "commented-out"),
    # dotenvx keys that are not the production one
    (f"DOTENV_PRIVATE_KEY={tok(HEX, 64)}", "warning", "dotenvx"),
    (f"DOTENV_PRIVATE_KEY_DEVELOPMENT={tok(HEX, 64)}", "warning", "dotenvx"),
    (f"DOTENV_PRIVATE_KEY_CI={tok(HEX, 64)}", "warning", "dotenvx"),
    (f'DOTENV_PRIVATE_KEY_STAGING="{tok(HEX, 64)}"', "warning", "dotenvx"),
    # connection URLs with credentials to a host that is not local
    (
        f"DATABASE_URL=postgres://app:{tok(B62, 24)}"
        "@app-db.c9akciq32.us-east-1.rds.amazonaws.com:5432/app",
        "warning",
        "connection-url",
    ),
    (
        f"MONGODB_URI=mongodb+srv://app:{tok(B62, 16)}"
        "@cluster0.x1y2z.mongodb.net/shop?retryWrites=true",
        "warning",
        "connection-url",
    ),
    (
        f"CLOUDAMQP_URL=amqps://user:{tok(B62, 32)}@rattlesnake.rmq.cloudamqp.com/vhost",
        "warning",
        "connection-url",
    ),
    (
        f"REDIS_URL=rediss://default:{tok(B62, 32)}@eu1-fine-cat-31337.upstash.io:6379",
        "warning",
        "connection-url",
    ),
    (
        f"CACHE_URL=redis://:{tok(B62, 24)}@10ab.cache.amazonaws.com:6379/0",
        "warning",
        "connection-url",
    ),
    (
        f"AZURE_REDIS=acme.redis.cache.windows.net:6380,password={tok(B64, 43)}="
        ",ssl=True,abortConnect=False",
        "warning",
        "connection-url",
    ),
    (
        'SQL_CONNECTION="Server=tcp:acme.database.windows.net,1433;Database=app;User ID=app;'
        f'Password={tok(B62, 20)};"',
        "warning",
        "connection-url",
    ),
    (f"MYSQL_URL=mysql://root:{tok(B62, 20)}@34.118.20.7:3306/shop", "warning", "connection-url"),
    (
        f"PG_URL=postgresql://app:{tok(B62, 20)}@[2600:1f18:2b4:9e00::17]:5432/app",
        "warning",
        "connection-url",
    ),
    (
        f"SMTP_URL=smtp://postmaster:{tok(B62, 24)}@smtp.mailgun.org:587",
        "warning",
        "connection-url",
    ),
    # database names that say production
    ("DATABASE_URL=postgres://localhost:5432/shop_production", "warning", "production-database"),
    ("MYSQL_URL=mysql://root@127.0.0.1:3306/app_prod", "warning", "production-database"),
    ("DB_NAME=orders_production", "warning", "production-database"),
    ("POSTGRES_DB=billing_prod", "warning", "production-database"),
    ("MONGO_DATABASE=catalog_production", "warning", "production-database"),
    # environment selectors set to production (an error beside a credential)
    ("NODE_ENV=production", "warning", "selector"),
    ("RAILS_ENV=production", "warning", "selector"),
    ("RACK_ENV=production", "warning", "selector"),
    ("APP_ENV=prod", "warning", "selector"),
    ("ASPNETCORE_ENVIRONMENT=Production", "warning", "selector"),
    ("DOTNET_ENVIRONMENT=Production", "warning", "selector"),
    ("SPRING_PROFILES_ACTIVE=prod", "warning", "selector"),
    ("SPRING_PROFILES_ACTIVE=default,prod", "warning", "selector"),
    ("AWS_PROFILE=acme-prod", "warning", "selector"),
    ("AWS_PROFILE=production-admin", "warning", "selector"),
    ("PLAID_ENV=production", "warning", "selector"),
    ("SQUARE_ENVIRONMENT=production", "warning", "selector"),
    ("BRAINTREE_ENVIRONMENT=production", "warning", "selector"),
    ("PAYPAL_MODE=live", "warning", "selector"),
    ("ADYEN_ENVIRONMENT=LIVE", "warning", "selector"),
    ('export NODE_ENV="production"', "warning", "selector"),
    # rules grove had before issue 17, in the same table
    (f"GITHUB_TOKEN=ghp_{tok(B62, 36)}", "warning", "existing"),
    (f'SIGNING_KEY="-----BEGIN EC PRIVATE KEY-----\\n{tok(B64, 64)}\\n"', "warning", "existing"),
    (f"ANTHROPIC_API_KEY=sk-ant-api03-{tok(B64URL, 93)}AA", "warning", "existing"),
    (f"OPENAI_API_KEY=sk-proj-{tok(B64URL, 48)}", "warning", "existing"),
    (f"NEXT_PUBLIC_STRIPE_KEY=pk{LIVE}{tok(B62, 24)}", "warning", "existing"),
]

# Dev and staging values, placeholders and look-alikes: never a finding.
FALSE_ALARMS: list[Row] = [
    # test and sandbox credentials
    (f"STRIPE_SECRET_KEY=sk_test_{tok(B62, 24)}", "none", "test-key"),
    (f"STRIPE_RESTRICTED_KEY=rk_test_{tok(B62, 24)}", "none", "test-key"),
    (f"NEXT_PUBLIC_STRIPE_KEY=pk_test_{tok(B62, 24)}", "none", "test-key"),
    (f"RAZORPAY_KEY_ID=rzp_test_{tok(B62, 14)}", "none", "test-key"),
    (f"MOLLIE_API_KEY=test_{tok(B62, 30)}", "none", "test-key"),
    (f"PLAID_ACCESS_TOKEN=access-sandbox-{uuid()}", "none", "sandbox"),
    (f"PLAID_PUBLIC_TOKEN=public-sandbox-{uuid()}", "none", "sandbox"),
    (f"PLAID_LINK_TOKEN=link-development-{uuid()}", "none", "sandbox"),
    (
        f"BRAINTREE_ACCESS_TOKEN=access_token$sandbox${tok('abcdefghij0123456789', 16)}"
        f"${tok(HEX, 32)}",
        "none",
        "sandbox",
    ),
    (f"TWILIO_TEST_AUTH_TOKEN={tok(HEX, 32)}", "none", "sandbox"),
    ("TWILIO_ACCOUNT_SID=ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", "none", "placeholder"),
    (f"SQUARE_SANDBOX_ACCESS_TOKEN=EAAA{tok(B64URL, 60)}", "none", "sandbox"),
    (f"SQUARE_APPLICATION_SECRET=sandbox-sq0csb-{tok(B64URL, 43)}", "none", "sandbox"),
    (f"SQUARE_APPLICATION_ID=sandbox-sq0idb-{tok(B64URL, 22)}", "none", "sandbox"),
    ("PLAID_ENV=sandbox", "none", "selector-dev"),
    ("SQUARE_ENVIRONMENT=sandbox", "none", "selector-dev"),
    ("PAYPAL_MODE=sandbox", "none", "selector-dev"),
    ("BRAINTREE_ENVIRONMENT=sandbox", "none", "selector-dev"),
    ("ADYEN_ENVIRONMENT=TEST", "none", "selector-dev"),
    ("NODE_ENV=development", "none", "selector-dev"),
    ("RAILS_ENV=test", "none", "selector-dev"),
    ("APP_ENV=staging", "none", "selector-dev"),
    ("ASPNETCORE_ENVIRONMENT=Development", "none", "selector-dev"),
    ("SPRING_PROFILES_ACTIVE=dev,local", "none", "selector-dev"),
    ("AWS_PROFILE=acme-staging", "none", "selector-dev"),
    ("AWS_PROFILE=default", "none", "selector-dev"),
    (f"DOTENV_PUBLIC_KEY_PRODUCTION=02{tok(HEX, 64)}", "none", "public-key"),
    # localhost and compose-service URLs
    ("DATABASE_URL=postgres://postgres:postgres@localhost:5432/app_dev", "none", "local-url"),
    (f"DATABASE_URL=postgresql://app:{tok(B62, 16)}@db:5432/app", "none", "local-url"),
    (f"REDIS_URL=redis://:{tok(B62, 16)}@redis:6379/0", "none", "local-url"),
    ("MONGO_URL=mongodb://root:example@mongo:27017/", "none", "local-url"),
    ("AMQP_URL=amqp://guest:guest@rabbitmq:5672/", "none", "local-url"),
    (f"DATABASE_URL=postgres://app:{tok(B62, 16)}@127.0.0.1:5432/app", "none", "local-url"),
    (
        f"DATABASE_URL=postgres://app:{tok(B62, 16)}@host.docker.internal:5432/app",
        "none",
        "local-url",
    ),
    (f"DATABASE_URL=postgres://app:{tok(B62, 16)}@192.168.1.20:5432/app", "none", "local-url"),
    (f"DATABASE_URL=postgres://app:{tok(B62, 16)}@[::1]:5432/app", "none", "local-url"),
    (f"DATABASE_URL=postgres://app:{tok(B62, 16)}@pg.acme.localhost:5432/app", "none", "local-url"),
    (
        f"DATABASE_URL=postgres://app:{tok(B62, 16)}@db.staging.acme-corp.com:5432/app",
        "none",
        "staging-url",
    ),
    (
        f"REDIS_URL=rediss://default:{tok(B62, 16)}@dev-cache.acme-corp.com:6380",
        "none",
        "staging-url",
    ),
    ("DATABASE_URL=mysql://app:${DB_PASSWORD}@db.acme-corp.com:3306/app", "none", "placeholder"),
    ("DATABASE_URL=postgres://user:<password>@db.acme-corp.com:5432/app", "none", "placeholder"),
    ("DATABASE_URL=postgres://user:password@db.example.com:5432/mydb", "none", "placeholder"),
    ("DATABASE_URL=postgres://app@127.0.0.1:5432/app_test", "none", "local-url"),
    ("REDIS_URL=redis://host.docker.internal:6379", "none", "local-url"),
    ("API_URL=http://localhost:3000/api", "none", "local-url"),
    ("DB_NAME=app_development", "none", "local-url"),
    ("POSTGRES_DB=app_test", "none", "local-url"),
    # placeholders and documented example keys
    ("STRIPE_SECRET_KEY=changeme", "none", "placeholder"),
    ("OPENAI_API_KEY=<your-key>", "none", "placeholder"),
    ("ANTHROPIC_API_KEY=", "none", "placeholder"),
    (
        "SENDGRID_API_KEY=SG.xxxxxxxxxxxxxxxxxxxxxx.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "none",
        "placeholder",
    ),
    ("GOOGLE_MAPS_API_KEY=your-google-maps-api-key", "none", "placeholder"),
    ("GOOGLE_MAPS_API_KEY=AIzaSyXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", "none", "placeholder"),
    ("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCY" + "EXAMPLEKEY", "none", "example-key"),
    ("HF_TOKEN=hf_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "none", "placeholder"),
    ("NPM_TOKEN=npm_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", "none", "placeholder"),
    ("NPM_TOKEN=${NPM_TOKEN}", "none", "placeholder"),
    ("JWT_SECRET=change-me-in-production", "none", "placeholder"),
    ("JWT_SECRET=dev-secret-key-not-for-real-use", "none", "placeholder"),
    ("JWT_SECRET=secret", "none", "placeholder"),
    ("JWT_SECRET=local_insecure_jwt_secret_value", "none", "placeholder"),
    (f"JWT_PUBLIC_KEY={tok(B64, 64)}", "none", "public-key"),
    (
        "SUPABASE_ANON_KEY=" + jwt('{"iss":"supabase-demo","role":"anon","exp":1983812996}'),
        "none",
        "local-demo-key",
    ),
    ("STRIPE_WEBHOOK_SECRET=whsec_...", "none", "placeholder"),
    (
        "SLACK_WEBHOOK_URL=https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
        "none",
        "example-key",
    ),
    ("SLACK_BOT_TOKEN=xoxb-your-bot-token", "none", "placeholder"),
    ("MAILGUN_API_KEY=key-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "none", "placeholder"),
    ("TWILIO_AUTH_TOKEN=your_auth_token", "none", "placeholder"),
    ("DOTENV_PRIVATE_KEY_DEVELOPMENT=", "none", "placeholder"),
    # model names, ids, UUIDs, hashes
    ("OPENAI_MODEL=gpt-4o-mini", "none", "model-name"),
    ("ANTHROPIC_MODEL=claude-sonnet-4-5", "none", "model-name"),
    ("HF_MODEL=meta-llama/Llama-3.1-8B-Instruct", "none", "model-name"),
    ("HF_MODEL_ID=hf_internal_testing/tiny-random-bert", "none", "model-name"),
    ("EMBEDDING_MODEL=text-embedding-3-small", "none", "model-name"),
    ("SKLEARN_MODEL=skops-live_forecaster", "none", "model-name"),
    (f"TENANT_ID={uuid()}", "none", "uuid"),
    (f"AZURE_CLIENT_ID={uuid()}", "none", "uuid"),
    (f"NEW_RELIC_APP_ID={uuid()}", "none", "uuid"),
    (f"GIT_SHA={tok(HEX, 40)}", "none", "hash"),
    (f"ASSET_CHECKSUM={tok(HEX, 64)}", "none", "hash"),
    (f"CACHE_BUSTER={tok(HEX, 32)}", "none", "hash"),
    (f"SRI_HASH=sha384-{tok(B64, 64)}", "none", "hash"),
    (f"LOCKFILE_SHA512=sha512-{tok(B64, 86)}==", "none", "hash"),
    # high-entropy strings alone
    (f"SESSION_SALT={tok(B62, 32)}", "none", "entropy"),
    (f"COOKIE_SECRET={tok(B62, 48)}", "none", "entropy"),
    (f"APP_KEY=base64:{tok(B64, 43)}=", "none", "entropy"),
    (f"SECRET_KEY_BASE={tok(HEX, 128)}", "none", "entropy"),
    (f"ENCRYPTION_KEY={tok(HEX, 64)}", "none", "entropy"),
    (f"NEXTAUTH_SECRET={tok(B64URL, 43)}", "none", "entropy"),
    (f"CSRF_TOKEN={tok(B62, 39)}", "none", "entropy"),
    # look-alikes
    ("SHOW_PRODUCTION_BANNER=false", "none", "look-alike"),
    (f"STRIPE_PRICE_ID=price_{tok(B62, 24)}", "none", "look-alike"),
    (f"STRIPE_PRODUCT=prod_{tok(B62, 14)}", "none", "look-alike"),
    (
        f"GOOGLE_CLIENT_ID={tok(string.digits, 12)}-"
        f"{tok('abcdefghijklmnopqrstuvwxyz0123456789', 32)}.apps.googleusercontent.com",
        "none",
        "look-alike",
    ),
    ("GOOGLE_CLOUD_PROJECT=acme-dev-417", "none", "look-alike"),
    ("SLACK_CHANNEL_ID=C04AB5CDE", "none", "look-alike"),
    ("FEATURE_LIVE_CHAT=true", "none", "look-alike"),
    ("LIVE_RELOAD=true", "none", "look-alike"),
    ("STREAM_URL=https://video.acme-corp.com/live_event_2024_spring", "none", "look-alike"),
    ("CHANNEL=acme_live_broadcast_2024", "none", "look-alike"),
    ("STREAM_MODE=live_preview_enabled", "none", "look-alike"),
    ("NPM_CONFIG_REGISTRY=https://registry.npmjs.org/", "none", "look-alike"),
    ("MAILGUN_DOMAIN=mg.acme-corp.com", "none", "look-alike"),
    ("SENDGRID_TEMPLATE_ID=d-" + tok(HEX, 32), "none", "look-alike"),
    (f"CA_CERT_B64={pem_b64('CERTIFICATE')}", "none", "look-alike"),
    (f"JWT_PUBLIC_KEY_B64={pem_b64('PUBLIC KEY')}", "none", "look-alike"),
    ("JWT_ISSUER=https://auth.acme-corp.com/", "none", "look-alike"),
    ("LOG_LEVEL=debug", "none", "look-alike"),
    ("COMMENT=production is where the money is", "none", "look-alike"),
    # comments that are not credentials
    ("# NODE_ENV=production", "none", "comment"),
    ("# DATABASE_URL=postgres://localhost/app", "none", "comment"),
    (f"# STRIPE_SECRET_KEY=sk_test_{tok(B62, 24)}", "none", "comment"),
    ("# Get your keys at https://dashboard.stripe.com/apikeys", "none", "comment"),
    ("# sk_live_ keys belong in the secret manager, never here", "none", "comment"),
]

ROWS: list[Row] = ERRORS + WARNINGS + FALSE_ALARMS

# Families whose lines carry a production marker: every one must be an error.
PRODUCTION_MARKED = {
    "stripe-live",
    "live-key",
    "plaid-production",
    "braintree-production",
    "dotenvx-production",
    "production-host",
}
# Families of credentials and production signs that must be flagged.
CREDENTIAL_FAMILIES = {family for _, level, family in ERRORS + WARNINGS}
SELECTOR_FAMILY = "selector"

# The rules each family's lines may be found by (a line gets one finding: the first rule).
FAMILY_CHECKS: dict[str, set[str]] = {
    "stripe-live": {"stripe-live-secret", "stripe-live-restricted"},
    "live-key": {"live-key", "stripe-live-secret"},  # Paystack shares Stripe's sk_live_
    "plaid-production": {"plaid-production"},
    "braintree-production": {"braintree-production"},
    "dotenvx-production": {"dotenvx-production-key"},
    "production-host": {"production-host"},
    "twilio": {"twilio-key"},
    "sendgrid": {"sendgrid-key"},
    "mailgun": {"mailgun-key"},
    "google": {"google-api-key", "google-oauth-secret"},
    "jwt": {"jwt", "jwt-secret"},
    "huggingface": {"huggingface-token"},
    "npm": {"npm-token"},
    "square": {"square-token"},
    "stripe-webhook": {"stripe-webhook-secret"},
    "slack": {"slack-token", "slack-webhook"},
    "private-key-base64": {"private-key-base64"},
    "aws-secret": {"aws-secret-key", "aws-access-key"},
    "commented-out": {"commented-out"},
    "dotenvx": {"dotenvx-private-key"},
    "connection-url": {"remote-credentials"},
    "production-database": {"production-database"},
    "selector": {"production-environment"},
    "existing": {
        "github-token",
        "anthropic-key",
        "openai-key",
        "stripe-live-publishable",
        "private-key",
    },
}
