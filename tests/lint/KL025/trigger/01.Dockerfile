FROM fedora:39
RUN dnf install -y nginx && dnf clean all
