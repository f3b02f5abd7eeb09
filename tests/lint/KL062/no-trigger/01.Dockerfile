FROM ghcr.io/acme/app:1.0
FROM debian:12
