FROM alpine:3.19
RUN addgroup -S app
# then the user
RUN adduser -S -G app app
