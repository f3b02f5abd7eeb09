FROM python:3.12-alpine
RUN apk add --no-cache --virtual .deps gcc musl-dev libffi-dev \
    && pip install --no-cache-dir cryptography==42.0.5 \
    && apk del .deps
RUN apk add postgresql-libs=16.2-r0
COPY . /app
WORKDIR /app
CMD ["python", "app.py"]
