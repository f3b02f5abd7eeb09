FROM mongo:latest
FROM redis:latest AS cache
FROM postgres
FROM ghcr.io/acme/base:1.4.2
