"""``python -m baas serve|render-k8s`` (the same commands as ``jadechain baas``)."""

from baas.cli import baas_app

baas_app(prog_name="python -m baas")
