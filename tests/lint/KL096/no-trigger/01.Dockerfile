FROM alpine:3.19
RUN apk add --no-cache \
# a comment line is fine
    curl=8.5.0-r0
