FROM opensuse/leap:15.5
RUN zypper --non-interactive install curl=8.0.1 && zypper clean
