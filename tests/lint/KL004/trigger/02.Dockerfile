FROM debian:12-slim
RUN apt-get update && apt-get dist-upgrade -y && rm -rf /var/lib/apt/lists/*
