FROM quay.io/acme/app:1.0
