FROM alpine:3.19
RUN apk add --update curl=8.5.0-r0
