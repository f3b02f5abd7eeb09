FROM alpine:3.19
RUN wget -qO- https://example.com/a.tgz | tar xz -C /opt
