"""Validates X-Ray sampling requests against botocore's own service model of X-Ray.

Reads JSON lines from standard input, each {"operation": "GetSamplingRules" |
"GetSamplingTargets", "body": {...}} — the JSON bodies a sampler POSTed to the daemon's
proxy (`/GetSamplingRules`, `/SamplingTargets`) — and checks each body against the
operation's input shape with botocore's ParamValidator (required members, types, no
unknown members). Prints one line per problem; exits 1 if there is any.

botocore is the AWS SDK for Python's core, written by AWS, not here: its model is the
X-Ray API as AWS publishes it.
"""

import json
import sys

import botocore.session
from botocore.validate import ParamValidator


def main() -> int:
    model = botocore.session.get_session().get_service_model("xray")
    validator = ParamValidator()
    problems = 0
    seen = 0
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        operation = model.operation_model(request["operation"])
        report = validator.validate(request["body"], operation.input_shape)
        seen += 1
        if report.has_errors():
            problems += 1
            print(f"{request['operation']}: {report.generate_report()}")
    if seen == 0:
        print("no request to validate")
        return 1
    print(f"{seen} requests valid" if problems == 0 else f"{problems} of {seen} invalid")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
