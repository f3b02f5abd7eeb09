FROM opensuse/leap:15.5
RUN zypper refresh && zypper install -y curl tar && zypper clean -a
RUN zypper install git=2.35.3
RUN zypper dist-upgrade -y
WORKDIR /srv
CMD ["/bin/bash"]
