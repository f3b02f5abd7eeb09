FROM alpine:3.19
SHELL ["/bin/ash", "-eo", "pipefail", "-c"]
RUN wget -qO- https://example.com/a.tgz | tar xz -C /opt
