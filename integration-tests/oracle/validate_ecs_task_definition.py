"""Validates an ECS task definition (the JSON `aws ecs register-task-definition
--cli-input-json` takes) against the ECS API's own RegisterTaskDefinition input shape, with
botocore's parameter validator: the service model the AWS CLI and SDKs validate with.

    python validate_ecs_task_definition.py task-definition.json

Exit status 0 when valid; 1 with botocore's report otherwise.
"""

import json
import sys

import botocore.session
from botocore.validate import ParamValidator


def main(path):
    with open(path, encoding="utf-8") as file:
        document = json.load(file)
    model = botocore.session.get_session().get_service_model("ecs")
    shape = model.operation_model("RegisterTaskDefinition").input_shape
    report = ParamValidator().validate(document, shape)
    if report.has_errors():
        print(report.generate_report())
        return 1
    print(f"valid RegisterTaskDefinition input ({len(document.get('containerDefinitions', []))} containers)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
