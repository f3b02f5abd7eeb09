FROM alpine:3.19
COPY package.json package-lock.json /app/
