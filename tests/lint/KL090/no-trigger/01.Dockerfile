FROM golang:1.22 AS build-go
FROM node:20 AS build-js
FROM alpine:3.19
