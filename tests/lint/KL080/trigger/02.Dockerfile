FROM alpine:3.19
ENTRYPOINT /entrypoint.sh
