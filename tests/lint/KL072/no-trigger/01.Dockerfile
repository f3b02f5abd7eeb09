FROM golang:1.22 AS build
RUN go build -o /out/app .
FROM alpine:3.19
COPY --from=build /out/app /usr/local/bin/app
COPY --from=0 /etc/passwd /etc/passwd
COPY --from=nginx:1.25 /etc/nginx/nginx.conf /etc/nginx/
