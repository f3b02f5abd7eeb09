FROM python:3.10-bullseye
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update && apt-get install -y libpq-dev gcc
RUN pip3 install --upgrade pip
RUN pip3 install psycopg2==2.9.9 django==4.2.11
WORKDIR /code
COPY . /code/
RUN python manage.py collectstatic --noinput
CMD python manage.py runserver 0.0.0.0:8000
