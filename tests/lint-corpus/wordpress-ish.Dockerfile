FROM php:8.1-fpm
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends ghostscript; \
    rm -rf /var/lib/apt/lists/*
RUN docker-php-ext-install mysqli opcache
VOLUME /var/www/html
COPY docker-entrypoint.sh /usr/local/bin/
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["php-fpm"]
