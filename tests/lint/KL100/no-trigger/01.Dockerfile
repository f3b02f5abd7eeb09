FROM alpine:3.19
ARG PUBLIC_KEY_URL=https://example.com/key.pub
ENV TOKENIZER_MODE=fast
