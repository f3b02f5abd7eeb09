FROM python:3.11
RUN pip install poetry
WORKDIR /srv
COPY pyproject.toml poetry.lock /srv/
RUN poetry config virtualenvs.create false && poetry install --no-root
COPY . /srv
ENTRYPOINT ["python", "manage.py"]
CMD ["runserver", "0.0.0.0:8000"]
