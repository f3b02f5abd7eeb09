FROM fedora:39
RUN dnf install -y gcc-13.2.1 make-4.4.1 && dnf clean all
RUN dnf install git
WORKDIR /work
COPY . /work
CMD ["make"]
