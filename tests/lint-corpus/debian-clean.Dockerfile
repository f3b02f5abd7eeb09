FROM debian:12-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        ca-certificates=20230311 \
        curl=7.88.1-10+deb12u5 \
    && rm -rf /var/lib/apt/lists/*
COPY entrypoint.sh /usr/local/bin/
ENTRYPOINT ["entrypoint.sh"]
