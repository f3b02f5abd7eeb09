FROM alpine:3.19
RUN apk add --no-cache --upgrade openssl=3.1.4-r5
