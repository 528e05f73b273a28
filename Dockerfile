FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY pyproject.toml README.md ./
COPY server ./server
COPY groups ./groups
COPY notifier ./notifier
RUN pip install --no-cache-dir .
EXPOSE 8000
# Migrations run once, from the `migrate` service of docker-compose.yml, not in every replica.
CMD ["uvicorn", "--factory", "server.web.app:create_app", "--host", "0.0.0.0", "--port", "8000", \
     "--ws", "websockets-sansio", "--ws-per-message-deflate", "false", "--proxy-headers", "--forwarded-allow-ips", "*"]
