FROM alpine:3.19
ADD app.conf /etc/app/
