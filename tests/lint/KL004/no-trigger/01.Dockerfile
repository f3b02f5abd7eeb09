FROM debian:12-slim
RUN apt-get update && apt-get install -y --no-install-recommends --only-upgrade openssl=3.0.11-1 && rm -rf /var/lib/apt/lists/*
