FROM opensuse/leap:15.5
RUN zypper dup -y && zypper clean
