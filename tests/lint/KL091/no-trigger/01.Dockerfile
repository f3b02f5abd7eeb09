FROM golang:1.22 AS builder
FROM alpine:3.19
