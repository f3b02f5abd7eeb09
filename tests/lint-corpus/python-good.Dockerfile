# syntax=docker/dockerfile:1
FROM python:3.12-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
WORKDIR /app

FROM base AS deps
COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt

FROM deps AS final
COPY src/ ./src/
RUN useradd --system --uid 10001 app
USER 10001
EXPOSE 8000
CMD ["python", "-m", "src.main"]
