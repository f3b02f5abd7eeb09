FROM alpine:3.19
RUN addgroup -S app
RUN adduser -S -G app app
