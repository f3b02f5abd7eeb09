FROM nginx:alpine
RUN apk add --no-cache openssl=3.1.4-r5
COPY nginx.conf /etc/nginx/nginx.conf
COPY html /usr/share/nginx/html
EXPOSE 80 443
HEALTHCHECK CMD wget -qO- http://localhost/ || exit 1
