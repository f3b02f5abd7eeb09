FROM alpine:3.19 AS base
FROM scratch
