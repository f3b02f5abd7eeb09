FROM opensuse/leap:15.5
RUN zypper install -y curl=8.0.1 && zypper clean --all
