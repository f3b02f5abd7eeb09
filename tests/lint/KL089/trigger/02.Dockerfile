FROM alpine:3.19
LABEL version 1.0
