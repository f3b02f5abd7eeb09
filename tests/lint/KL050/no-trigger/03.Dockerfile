FROM alpine:3.19
RUN --mount=type=secret,id=t cat /run/secrets/t
RUN touch x
