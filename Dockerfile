# pt2caffe with its reference Caffe (stock SSD Caffe, CPU-only pycaffe), installed by
# scripts/install.sh, the script CI runs natively.
#
#   bash scripts/docker_build.sh          # fills docker-inputs/, works without an image registry
#   docker build --network host -t pt2caffe .                     # or by hand, from the internet
#   docker run --rm -v "$PWD:/w" -w /w pt2caffe check out/resnet18/ResNet18.json
#
# Build arguments (all optional):
#   BASE          Debian bookworm with Python 3.11, its venv module and C headers
#                 (python:3.11-slim-bookworm; docker_build.sh makes one with debootstrap when no
#                 registry can be reached)
#   TORCH_SPEC    pip arguments for PyTorch (2.13.0 from PyTorch's CPU wheel index; PyPI's is the
#                 CUDA build), e.g. a wheel file put in docker-inputs/
#   CA_BUNDLE     a file in docker-inputs/: the CA bundle pip, curl and apt trust during the build
#                 (networks behind a TLS-intercepting proxy)
#   CAFFE_SOURCE  a file in docker-inputs/: the stock SSD Caffe source tarball (default: GitHub's)
#   CAFFE_PREBUILT a file in docker-inputs/: a Caffe home built by scripts/build_caffe.sh (tar.gz),
#                 used instead of building when its build key (recipe, commit, Python X.Y, NumPy
#                 major) is the image's and it imports there
ARG BASE=python:3.11-slim-bookworm
FROM ${BASE}

ARG TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"
ARG CA_BUNDLE=""
ARG CAFFE_SOURCE=""
ARG CAFFE_PREBUILT=""
# The Caffe home is fixed so that it does not depend on the cache key. A virtual environment,
# because Debian's own python3 refuses pip installs (PEP 668); it comes first on PATH.
ENV PT2CAFFE_CAFFE_HOME=/opt/pt2caffe-caffe \
    PIP_NO_CACHE_DIR=1 \
    PATH=/opt/venv/bin:$PATH
RUN python3 -m venv /opt/venv

WORKDIR /opt/pt2caffe
COPY docker-inputs/ /opt/pt2caffe-inputs/
# Debian packages, PyTorch and the Caffe build need only the scripts: a layer of their own, so that
# editing the sources does not rebuild Caffe.
COPY scripts/lib.sh scripts/install.sh scripts/build_caffe.sh scripts/
RUN PT2CAFFE_TORCH_SPEC="$TORCH_SPEC" \
    PT2CAFFE_CA_BUNDLE="${CA_BUNDLE:+/opt/pt2caffe-inputs/$CA_BUNDLE}" \
    PT2CAFFE_CAFFE_SOURCE="${CAFFE_SOURCE:+/opt/pt2caffe-inputs/$CAFFE_SOURCE}" \
    PT2CAFFE_CAFFE_PREBUILT="${CAFFE_PREBUILT:+/opt/pt2caffe-inputs/$CAFFE_PREBUILT}" \
    bash scripts/install.sh --prerequisites
# The package alone (docker-inputs/, tests and examples stay out of the image).
COPY setup.py pyproject.toml README.md ./
COPY pt2caffe/ pt2caffe/
RUN PT2CAFFE_TORCH_SPEC="$TORCH_SPEC" \
    PT2CAFFE_CA_BUNDLE="${CA_BUNDLE:+/opt/pt2caffe-inputs/$CA_BUNDLE}" \
    bash scripts/install.sh && rm -rf /var/lib/apt/lists/*

ENTRYPOINT ["pt2caffe"]
