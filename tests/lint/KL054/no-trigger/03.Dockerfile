FROM alpine:3.19
RUN ["sh", "-c", "echo a | wc -c"]
