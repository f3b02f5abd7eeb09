FROM debian:12-slim
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends ca-certificates=20230311 gnupg; \
    rm -rf /var/lib/apt/lists/*
COPY app.conf /etc/app.conf
CMD ["cat", "/etc/app.conf"]
