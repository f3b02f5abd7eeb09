FROM alpine:3.19
HEALTHCHECK CMD wget -qO- http://localhost/ || exit 1
