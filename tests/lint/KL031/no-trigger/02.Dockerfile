FROM opensuse/leap:15.5
RUN zypper -n in curl=8.0.1 && zypper cc -a
