# Worker image for Google Cloud Dataflow (--sdk_container_image): llamacorpus and its compiled
# dependencies (fasttext and kenlm build from source, ~85 s each) installed once, at image build,
# instead of at every worker start as --requirements_file/--setup_file would.
#
#   docker build -t REGION-docker.pkg.dev/PROJECT/REPO/llamacorpus:0.1.0 .
#   docker push REGION-docker.pkg.dev/PROJECT/REPO/llamacorpus:0.1.0
#   python beam_main.py --runner DataflowRunner ... \
#       --sdk_container_image REGION-docker.pkg.dev/PROJECT/REPO/llamacorpus:0.1.0 --sdk_location container
#
# The Beam version of the base image must equal the one the pipeline is launched with (pyproject pins >=2.77).
FROM apache/beam_python3.11_sdk:2.77.0

# Compilers and the compression libraries that the kenlm and fasttext Python modules build against.
RUN apt-get update && apt-get install -y --no-install-recommends build-essential cmake \
        zlib1g-dev libbz2-dev liblzma-dev \
    && rm -rf /var/lib/apt/lists/*

# The CPU build of torch (only the bundled trainer uses it); PyPI's default Linux wheel is a multi-GB CUDA build.
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

COPY pyproject.toml README.md /opt/llamacorpus/
COPY llamacorpus /opt/llamacorpus/llamacorpus
RUN pip install --no-cache-dir /opt/llamacorpus
