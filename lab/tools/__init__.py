"""Maintainer tooling: what keeps the lab's docs and tests honest, imported by no lesson.

    lab.tools.notebooks      re-execute the lesson notebooks in place (`make notebooks`)
    lab.tools.screenshots    the docs' Airflow UI pictures from a real run (`make screenshots`)
    lab.tools.browser        Debian's Chromium through Playwright: the browser tests and the pictures
    lab.tools.celery_local   Airflow on CeleryExecutor without Docker (`make test-celery`)
    lab.tools.celery_services  its private PostgreSQL and Redis, from Debian's packages

Notebooks import `lab` (`lab.notebook`, `lab.lake`, `lab.client` ...), never this package.
"""
