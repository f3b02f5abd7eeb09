FROM alpine:3.19
RUN addgroup -S app && adduser -S -G app app
