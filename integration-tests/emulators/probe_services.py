"""Which AWS services an endpoint really serves: one cheap, real call per service.

Usage: probe_services.py ENDPOINT; prints {"sqs": "ok", "dynamodb": "error: ..."}.
"""

import json
import sys

import boto3


def main():
    endpoint = sys.argv[1]
    kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
    probes = {
        "sqs": lambda: boto3.client("sqs", **kw).list_queues(),
        "s3": lambda: boto3.client("s3", **kw).list_buckets(),
        "sns": lambda: boto3.client("sns", **kw).list_topics(),
        "events": lambda: boto3.client("events", **kw).list_rules(),
        "dynamodb": lambda: boto3.client("dynamodb", **kw).list_tables(),
        "dynamodbstreams": lambda: boto3.client("dynamodbstreams", **kw).list_streams(),
    }
    results = {}
    for service, probe in probes.items():
        try:
            probe()
            results[service] = "ok"
        except Exception as error:  # any failure means: not served here
            results[service] = f"error: {type(error).__name__}: {str(error)[:160]}"
    print(json.dumps(results))


if __name__ == "__main__":
    main()
