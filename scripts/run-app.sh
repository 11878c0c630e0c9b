#!/usr/bin/env bash
# Set up (first time only) and serve the app on http://127.0.0.1:7860 with the shipped default model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export GRADIO_ANALYTICS_ENABLED=False
exec .venv/bin/python app.py "$@"
