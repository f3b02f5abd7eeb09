FROM golang:1.22 AS Builder
FROM alpine:3.19
COPY --from=builder /x /x
