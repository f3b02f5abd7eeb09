FROM nvidia/cuda:12.2.0-runtime-ubuntu22.04
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update && apt-get install -y --no-install-recommends python3-pip=22.0.2+dfsg-1ubuntu0.4 && rm -rf /var/lib/apt/lists/*
RUN pip3 install torch torchvision --index-url https://download.pytorch.org/whl/cu121
RUN pip3 install --no-cache-dir numpy==1.26.4 pandas
WORKDIR /workspace
COPY train.py .
CMD ["python3", "train.py"]
