FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
# The monthly report's charts and PDF need a CJK font (server/reports finds Noto Sans CJK).
RUN apt-get update && apt-get install -y --no-install-recommends fonts-noto-cjk fontconfig \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY server ./server
COPY groups ./groups
COPY notifier ./notifier
COPY storage ./storage
RUN pip install --no-cache-dir .
EXPOSE 8000
# X-Forwarded-For/-Proto are believed only from these proxies (uvicorn reads the variable; a
# comma-separated list of addresses or networks). Anyone else could claim any client address
# and https, so the default trusts this container alone; docker-compose.yml names its nginx.
ENV FORWARDED_ALLOW_IPS=127.0.0.1
# Migrations run once, from the `migrate` service of docker-compose.yml, not in every replica.
# SIGTERM drains (docs/operate.md): sockets first, then up to 20 s for the requests in flight.
CMD ["uvicorn", "--factory", "server.web.app:create_app", "--host", "0.0.0.0", "--port", "8000", \
     "--ws", "websockets-sansio", "--ws-per-message-deflate", "false", "--proxy-headers", \
     "--timeout-graceful-shutdown", "20"]
