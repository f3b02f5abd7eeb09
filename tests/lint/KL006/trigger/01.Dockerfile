FROM debian:12-slim
RUN apt update && apt install -y --no-install-recommends git=1:2.39.2-1 && rm -rf /var/lib/apt/lists/*
