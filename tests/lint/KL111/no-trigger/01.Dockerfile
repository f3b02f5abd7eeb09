FROM alpine:3.19
WORKDIR /app
COPY src/ ./src/
COPY keep.log ./
