FROM composer:2 AS vendor
COPY composer.json composer.lock ./
RUN composer install --no-dev --prefer-dist

FROM php:8.3-fpm-alpine
COPY --from=vendor /app/vendor /var/www/vendor
COPY . /var/www
WORKDIR /var/www
USER www-data
