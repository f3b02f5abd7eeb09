FROM node:latest@sha256:0123456789abcdef
