"""Capture real events from moto, shaped exactly as Lambda would deliver them.

Usage: capture_events.py ENDPOINT SCENARIO [ARGS...]; prints one JSON document.

Each scenario drives real moto services with boto3 (installed with moto) and converts what
the services emit into the Lambda event the matching event source would build:

  sqs TRACEPARENT AWSTRACEHEADER  three messages (AWSTraceHeader / traceparent / "fail")
                                  sent to a queue, received back, as a Lambda SQS event
  s3                              an object put into a bucket that notifies a queue: the S3
                                  notification body, as Lambda's S3 event
  sns TRACEPARENT                 a publish to a topic with raw and non-raw SQS subscribers:
                                  the Lambda SNS event, and both SQS deliveries as SQS events
  eventbridge                     put_events matched by a rule targeting a queue: the event
  dynamodb                        put, update and delete on a table with a stream, read back
                                  through the Streams API, as a Lambda DynamoDB event
"""

import base64
import datetime
import json
import sys
import time
import uuid

import boto3

REGION = "us-east-1"


def client(service, endpoint):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def receive(sqs, queue_url, count, timeout=20.0):
    """Receive at least `count` messages, with every attribute, within `timeout` seconds."""
    messages = []
    deadline = time.time() + timeout
    while len(messages) < count and time.time() < deadline:
        response = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            AttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages.extend(response.get("Messages", []))
    if len(messages) < count:
        raise SystemExit(f"only {len(messages)} of {count} messages arrived on {queue_url}")
    return messages


def lambda_sqs_record(message, queue_arn):
    """What the SQS event source mapping hands Lambda for one received message."""
    attributes = {}
    for name, value in message.get("MessageAttributes", {}).items():
        attribute = {"dataType": value["DataType"], "stringListValues": [], "binaryListValues": []}
        if "StringValue" in value:
            attribute["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            attribute["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
        attributes[name] = attribute
    record = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": attributes,
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def new_queue(sqs, prefix):
    url = sqs.create_queue(QueueName=f"{prefix}-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def scenario_sqs(endpoint, traceparent, aws_trace_header):
    sqs = client("sqs", endpoint)
    url, arn = new_queue(sqs, "orders")
    sqs.send_message(
        QueueUrl=url,
        MessageBody="from an X-Ray producer",
        MessageSystemAttributes={"AWSTraceHeader": {"StringValue": aws_trace_header, "DataType": "String"}},
    )
    sqs.send_message(
        QueueUrl=url,
        MessageBody="from a W3C producer",
        MessageAttributes={"traceparent": {"StringValue": traceparent, "DataType": "String"}},
    )
    sqs.send_message(QueueUrl=url, MessageBody="fail")
    messages = receive(sqs, url, 3)
    return {"Records": [lambda_sqs_record(m, arn) for m in messages]}


def scenario_s3(endpoint):
    s3 = client("s3", endpoint)
    sqs = client("sqs", endpoint)
    bucket = f"uploads-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    url, arn = new_queue(sqs, "uploads")
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={"QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]},
    )
    s3.put_object(Bucket=bucket, Key="reports/2026 Q3 summary.pdf", Body=b"%PDF-1.7")
    deadline = time.time() + 20
    while time.time() < deadline:
        for message in receive(sqs, url, 1):
            body = json.loads(message["Body"])
            # S3 first sends an s3:TestEvent when notifications are configured.
            if "Records" in body:
                return body
    raise SystemExit("no S3 notification arrived")


def lambda_sns_record(envelope, subscription_arn):
    """What SNS hands a Lambda subscriber, from the envelope it sends an SQS subscriber."""
    return {
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": subscription_arn,
        "Sns": {
            "Type": envelope["Type"],
            "MessageId": envelope["MessageId"],
            "TopicArn": envelope["TopicArn"],
            "Subject": envelope.get("Subject"),
            "Message": envelope["Message"],
            "Timestamp": envelope["Timestamp"],
            "SignatureVersion": envelope.get("SignatureVersion", "1"),
            "Signature": envelope.get("Signature", ""),
            "SigningCertUrl": envelope.get("SigningCertURL", ""),
            "UnsubscribeUrl": envelope.get("UnsubscribeURL", ""),
            "MessageAttributes": envelope.get("MessageAttributes", {}),
        },
    }


def scenario_sns(endpoint, traceparent):
    sns = client("sns", endpoint)
    sqs = client("sqs", endpoint)
    topic = sns.create_topic(Name=f"orders-{uuid.uuid4().hex[:8]}")["TopicArn"]
    raw_url, raw_arn = new_queue(sqs, "raw")
    envelope_url, envelope_arn = new_queue(sqs, "envelope")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=raw_arn, Attributes={"RawMessageDelivery": "true"})
    subscription = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=envelope_arn)["SubscriptionArn"]
    sns.publish(
        TopicArn=topic,
        Message="order placed",
        MessageAttributes={"traceparent": {"DataType": "String", "StringValue": traceparent}},
    )
    raw = receive(sqs, raw_url, 1)[0]
    wrapped = receive(sqs, envelope_url, 1)[0]
    return {
        "lambda_sns_event": {"Records": [lambda_sns_record(json.loads(wrapped["Body"]), subscription)]},
        "raw_sqs_event": {"Records": [lambda_sqs_record(raw, raw_arn)]},
        "envelope_sqs_event": {"Records": [lambda_sqs_record(wrapped, envelope_arn)]},
    }


def scenario_eventbridge(endpoint):
    events = client("events", endpoint)
    sqs = client("sqs", endpoint)
    url, arn = new_queue(sqs, "events")
    rule = f"orders-{uuid.uuid4().hex[:8]}"
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": ["shop.orders"]}))
    events.put_targets(Rule=rule, Targets=[{"Id": "queue", "Arn": arn}])
    events.put_events(
        Entries=[{"Source": "shop.orders", "DetailType": "OrderPlaced", "Detail": json.dumps({"orderId": "o-42"})}]
    )
    return json.loads(receive(sqs, url, 1)[0]["Body"])


def scenario_dynamodb(endpoint):
    dynamodb = client("dynamodb", endpoint)
    streams = client("dynamodbstreams", endpoint)
    table = f"Orders-{uuid.uuid4().hex[:8]}"
    description = dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]
    stream_arn = description["LatestStreamArn"]
    dynamodb.put_item(TableName=table, Item={"id": {"S": "o-1"}, "state": {"S": "placed"}})
    dynamodb.update_item(
        TableName=table,
        Key={"id": {"S": "o-1"}},
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "state"},
        ExpressionAttributeValues={":s": {"S": "paid"}},
    )
    dynamodb.delete_item(TableName=table, Key={"id": {"S": "o-1"}})
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
        "ShardIterator"
    ]
    records = streams.get_records(ShardIterator=iterator)["Records"]
    for record in records:
        # The event source mapping adds the stream it read from.
        record["eventSourceARN"] = stream_arn
        created = record["dynamodb"].get("ApproximateCreationDateTime")
        if isinstance(created, datetime.datetime):
            record["dynamodb"]["ApproximateCreationDateTime"] = created.timestamp()
    return {"Records": records}


def main():
    endpoint, scenario, *args = sys.argv[1:]
    handlers = {
        "sqs": scenario_sqs,
        "s3": scenario_s3,
        "sns": scenario_sns,
        "eventbridge": scenario_eventbridge,
        "dynamodb": scenario_dynamodb,
    }
    event = handlers[scenario](endpoint, *args)

    def default(value):
        if isinstance(value, datetime.datetime):
            return value.isoformat()
        if isinstance(value, bytes):
            return base64.b64encode(value).decode()
        raise TypeError(f"cannot encode {type(value)}")

    print(json.dumps(event, default=default))


if __name__ == "__main__":
    main()
