"""Jadechain BaaS: the control plane a consortium uses to go from nothing to a running network.

``baas.app.create_app(settings)`` builds the FastAPI service (REST API under ``/api/v1``, web console
under ``/ui``); ``baas.cli.baas_app`` is the ``jadechain baas`` command group. Apps of the consortium
(traceability, evidence) are mounted under ``/apps/{kind}`` from ``baas.apps.<kind>.create_app``.
"""
