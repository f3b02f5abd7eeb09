FROM alpine:3.19
COPY src /app
