FROM debian:12-slim
RUN set -o pipefail && curl -fsSL https://example.com/a.tgz | tar xz -C /opt
