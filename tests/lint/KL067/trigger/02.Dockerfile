FROM python:3.12 AS base
FROM base
ADD site.conf conf/
