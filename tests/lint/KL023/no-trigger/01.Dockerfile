FROM fedora:39
RUN dnf install -y nginx-1.24.0 && dnf clean all
