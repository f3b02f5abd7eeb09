FROM debian:12-slim
USER root
RUN echo sudo is just a word here
