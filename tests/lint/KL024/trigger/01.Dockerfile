FROM fedora:39
RUN dnf install nginx-1.24.0 && dnf clean all
