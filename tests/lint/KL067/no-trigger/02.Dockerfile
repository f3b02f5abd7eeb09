FROM python:3.12 AS base
WORKDIR /srv
FROM base
COPY app.py ./
