# pt2caffe with its reference Caffe, installed by the same script CI runs.
#   docker build -t pt2caffe . && docker run --rm -v "$PWD:/w" -w /w pt2caffe --help
FROM python:3.11-slim-bookworm

# The CPU wheel index keeps pip from pulling PyTorch's CUDA build; the Caffe home is fixed so
# that it does not depend on the cache key.
ENV PT2CAFFE_TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu" \
    PT2CAFFE_CAFFE_HOME=/opt/pt2caffe-caffe \
    PIP_NO_CACHE_DIR=1

WORKDIR /opt/pt2caffe
COPY . .
RUN bash scripts/install.sh && rm -rf /var/lib/apt/lists/*

ENTRYPOINT ["pt2caffe"]
