FROM debian:12-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates=20230311 ./local.deb && rm -rf /var/lib/apt/lists/*
