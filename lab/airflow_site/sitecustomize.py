"""Python imports this module at start-up in every process of the lab's Airflow (this directory
is on their PYTHONPATH, `lab.airflow_home.airflow_env`).

It keeps one optional import out of them: jsonschema, which Airflow imports when it starts,
also imports `rfc3987_syntax` whenever it is installed (JupyterLab's jsonschema[format-nongpl]
brings it into the lab's environment), and that module compiles an IRI grammar with lark at
import time: one to two seconds of CPU in every Airflow process on the lab's 2-core machine,
four of them at each `make up`. Airflow never validates IRIs. Marked as absent, it is skipped
by jsonschema exactly as if it were not installed.
"""

import sys

sys.modules.setdefault("rfc3987_syntax", None)
