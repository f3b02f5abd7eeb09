FROM fedora:39
RUN dnf -y install nginx-1.24.0 && dnf clean all
