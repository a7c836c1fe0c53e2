# Worker image for Google Cloud Dataflow (--sdk_container_image): llamacorpus and its compiled
# dependencies (fasttext and kenlm build from source, ~85 s each) installed once, at image build,
# instead of at every worker start as --requirements_file/--setup_file would.
#
#   docker build -t REGION-docker.pkg.dev/PROJECT/REPO/llamacorpus:0.1.0 .
#   docker push REGION-docker.pkg.dev/PROJECT/REPO/llamacorpus:0.1.0
#   python -m llamacorpus run --runner DataflowRunner ... \
#       --sdk_container_image REGION-docker.pkg.dev/PROJECT/REPO/llamacorpus:0.1.0 --sdk_location container
#
# The base image's Beam and Python versions are the ones the pipeline must be launched with:
# pyproject.toml pins apache-beam==2.77.0 (tests/test_install.py checks that the two agree) and the
# launcher warns when its own Beam or Python differs from this image's.
FROM apache/beam_python3.11_sdk:2.77.0

# Compilers and the compression libraries that the kenlm and fasttext Python modules build against.
RUN apt-get update && apt-get install -y --no-install-recommends build-essential cmake \
        zlib1g-dev libbz2-dev liblzma-dev \
    && rm -rf /var/lib/apt/lists/*

# The package with the dataflow extra (the Google Cloud clients, already in the base image) and
# without torch: workers run the pipeline, never the trainer. The recipes ship inside the package.
COPY pyproject.toml README.md /opt/llamacorpus/
COPY llamacorpus /opt/llamacorpus/llamacorpus
RUN pip install --no-cache-dir '/opt/llamacorpus[dataflow]'
