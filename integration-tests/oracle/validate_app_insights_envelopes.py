"""Validates Application Insights envelopes against Microsoft's own model of the track API.

Reads one JSON array of envelopes (the decompressed body of `POST /v2/track`) from standard
input and checks each with the models of `azure-monitor-opentelemetry-exporter`, generated
by Microsoft from the ingestion API's swagger: the envelope (`TelemetryItem`: name, time,
iKey, tags), and its `baseData` as the class `baseType` names (RequestData,
RemoteDependencyData, MessageData, TelemetryExceptionData, MetricsData, TelemetryEventData)
— required members, types, maximum lengths, which the service refuses an item for. Also
checked: `name` is the one the API pairs with the `baseType`, `time` is ISO 8601 UTC with
`Z`, and the tags are known context keys. Prints one line per problem; exits 1 if any.
"""

import json
import re
import sys

from azure.monitor.opentelemetry.exporter._generated import models

DATA = {
    "RequestData": (models.RequestData, "Microsoft.ApplicationInsights.Request"),
    "RemoteDependencyData": (
        models.RemoteDependencyData,
        "Microsoft.ApplicationInsights.RemoteDependency",
    ),
    "MessageData": (models.MessageData, "Microsoft.ApplicationInsights.Message"),
    "ExceptionData": (models.TelemetryExceptionData, "Microsoft.ApplicationInsights.Exception"),
    "MetricData": (models.MetricsData, "Microsoft.ApplicationInsights.Metric"),
    "EventData": (models.TelemetryEventData, "Microsoft.ApplicationInsights.Event"),
}

# ContextTagKeys of the same swagger.
TAGS = {key.value for key in models.ContextTagKeys}

TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$")


def problems_of(index, envelope):
    found = []
    item = models.TelemetryItem.from_dict(envelope)
    found += [f"envelope: {error}" for error in item.validate()]
    if not TIME.match(str(envelope.get("time", ""))):
        found.append(f"time {envelope.get('time')!r} is not ISO 8601 UTC with Z")
    for tag in (envelope.get("tags") or {}):
        if tag not in TAGS:
            found.append(f"tag {tag!r} is not a context tag key")
    data = envelope.get("data") or {}
    base_type = data.get("baseType")
    if base_type not in DATA:
        found.append(f"baseType {base_type!r} is not one the track API knows")
        return [f"item {index}: {p}" for p in found]
    model, name = DATA[base_type]
    if envelope.get("name") != name:
        found.append(f"name {envelope.get('name')!r} for {base_type} (expected {name!r})")
    base = model.from_dict(data.get("baseData") or {})
    found += [f"{base_type}: {error}" for error in base.validate()]
    if base_type == "MetricData":
        for point in base.metrics or []:
            found += [f"metric: {error}" for error in point.validate()]
    if base_type == "ExceptionData":
        for detail in base.exceptions or []:
            found += [f"exception: {error}" for error in detail.validate()]
    return [f"item {index}: {p}" for p in found]


def main() -> int:
    envelopes = json.load(sys.stdin)
    if not isinstance(envelopes, list) or not envelopes:
        print("no envelope to validate")
        return 1
    problems = []
    for index, envelope in enumerate(envelopes):
        problems += problems_of(index, envelope)
    for problem in problems:
        print(problem)
    print(f"{len(envelopes)} envelopes valid" if not problems else f"{len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
