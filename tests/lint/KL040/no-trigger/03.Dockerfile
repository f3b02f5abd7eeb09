FROM python:3.12-slim
RUN pip install flask==3.0.2 && pip cache purge
