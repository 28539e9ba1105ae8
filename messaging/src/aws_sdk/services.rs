//! What each service adds to its client spans, read from the typed operation input and
//! output (behind that service's cargo feature; without it, the generic attributes only).

use aws_smithy_runtime_api::client::interceptors::context::{Input, Output};
use opentelemetry::KeyValue;

/// Tries `$input` as each of the listed operation inputs and maps the first match.
#[allow(unused_macros)]
macro_rules! first_of {
    ($input:expr, [$($ty:ty),* $(,)?], |$i:ident| $map:expr) => {{
        let mut found = None;
        $(
            if found.is_none() {
                if let Some($i) = $input.downcast_ref::<$ty>() {
                    found = Some($map);
                }
            }
        )*
        found
    }};
}

pub(crate) fn input_attributes(input: &Input) -> Vec<KeyValue> {
    // Without the feature of a service that has attributes, nothing is added.
    #[allow(unused_mut)]
    let mut attributes = Vec::new();
    #[cfg(feature = "dynamodb")]
    attributes.extend(dynamodb::input(input));
    #[cfg(feature = "s3")]
    attributes.extend(s3::input(input));
    #[cfg(feature = "sqs")]
    attributes.extend(sqs::input(input));
    let _ = input;
    attributes
}

pub(crate) fn output_attributes(output: &Output) -> Vec<KeyValue> {
    #[allow(unused_mut)]
    let mut attributes = Vec::new();
    #[cfg(feature = "dynamodb")]
    attributes.extend(dynamodb::output(output));
    let _ = output;
    attributes
}

#[cfg(feature = "dynamodb")]
mod dynamodb {
    use aws_sdk_dynamodb::operation::{
        batch_get_item::BatchGetItemInput,
        batch_write_item::BatchWriteItemInput,
        create_table::CreateTableInput,
        delete_item::{DeleteItemInput, DeleteItemOutput},
        delete_table::DeleteTableInput,
        describe_table::DescribeTableInput,
        get_item::{GetItemInput, GetItemOutput},
        put_item::{PutItemInput, PutItemOutput},
        query::{QueryInput, QueryOutput},
        scan::{ScanInput, ScanOutput},
        update_item::{UpdateItemInput, UpdateItemOutput},
        update_table::UpdateTableInput,
    };
    use aws_sdk_dynamodb::types::ConsumedCapacity;
    use opentelemetry::{Array, KeyValue, StringValue, Value};
    use opentelemetry_semantic_conventions::attribute::{
        AWS_DYNAMODB_CONSUMED_CAPACITY, AWS_DYNAMODB_TABLE_NAMES, DB_SYSTEM_NAME,
    };

    use super::{Input, Output};

    fn strings(values: Vec<String>) -> Value {
        Value::Array(Array::String(
            values.into_iter().map(StringValue::from).collect(),
        ))
    }

    pub(super) fn input(input: &Input) -> Vec<KeyValue> {
        let single = first_of!(
            input,
            [
                GetItemInput,
                PutItemInput,
                UpdateItemInput,
                DeleteItemInput,
                QueryInput,
                ScanInput
            ],
            |i| i.table_name().map(str::to_owned)
        );
        let single = single.or_else(|| {
            first_of!(
                input,
                [
                    DescribeTableInput,
                    CreateTableInput,
                    DeleteTableInput,
                    UpdateTableInput
                ],
                |i| i.table_name().map(str::to_owned)
            )
        });
        let batch = first_of!(input, [BatchGetItemInput], |i| i
            .request_items()
            .map(|items| items.keys().cloned().collect::<Vec<_>>()))
        .or_else(|| {
            first_of!(input, [BatchWriteItemInput], |i| i
                .request_items()
                .map(|items| items.keys().cloned().collect::<Vec<_>>()))
        });
        let mut tables: Vec<String> = match (single.flatten(), batch.flatten()) {
            (Some(table), _) => vec![table],
            (None, Some(tables)) => tables,
            (None, None) => return Vec::new(),
        };
        tables.sort();
        vec![
            KeyValue::new(DB_SYSTEM_NAME, "aws.dynamodb"),
            KeyValue::new(AWS_DYNAMODB_TABLE_NAMES, strings(tables)),
        ]
    }

    fn capacity_json(capacity: &ConsumedCapacity) -> String {
        serde_json::json!({
            "TableName": capacity.table_name(),
            "CapacityUnits": capacity.capacity_units(),
            "ReadCapacityUnits": capacity.read_capacity_units(),
            "WriteCapacityUnits": capacity.write_capacity_units(),
        })
        .to_string()
    }

    pub(super) fn output(output: &Output) -> Vec<KeyValue> {
        let capacity = first_of!(
            output,
            [
                GetItemOutput,
                PutItemOutput,
                UpdateItemOutput,
                DeleteItemOutput,
                QueryOutput,
                ScanOutput
            ],
            |o| o.consumed_capacity().map(capacity_json)
        );
        match capacity.flatten() {
            Some(json) => vec![KeyValue::new(
                AWS_DYNAMODB_CONSUMED_CAPACITY,
                strings(vec![json]),
            )],
            None => Vec::new(),
        }
    }
}

#[cfg(feature = "s3")]
mod s3 {
    use aws_sdk_s3::operation::{
        copy_object::CopyObjectInput, create_bucket::CreateBucketInput,
        delete_bucket::DeleteBucketInput, delete_object::DeleteObjectInput,
        get_object::GetObjectInput, head_bucket::HeadBucketInput, head_object::HeadObjectInput,
        list_objects_v2::ListObjectsV2Input, put_object::PutObjectInput,
    };
    use opentelemetry::KeyValue;
    use opentelemetry_semantic_conventions::attribute::{AWS_S3_BUCKET, AWS_S3_KEY};

    use super::Input;

    pub(super) fn input(input: &Input) -> Vec<KeyValue> {
        let object = first_of!(
            input,
            [
                GetObjectInput,
                PutObjectInput,
                DeleteObjectInput,
                HeadObjectInput,
                CopyObjectInput
            ],
            |i| (i.bucket().map(str::to_owned), i.key().map(str::to_owned))
        );
        let bucket = first_of!(
            input,
            [
                ListObjectsV2Input,
                CreateBucketInput,
                DeleteBucketInput,
                HeadBucketInput
            ],
            |i| (i.bucket().map(str::to_owned), None::<String>)
        );
        let (bucket, key) = object.or(bucket).unwrap_or((None, None));
        let mut attributes = Vec::new();
        if let Some(bucket) = bucket {
            attributes.push(KeyValue::new(AWS_S3_BUCKET, bucket));
        }
        if let Some(key) = key {
            attributes.push(KeyValue::new(AWS_S3_KEY, key));
        }
        attributes
    }
}

#[cfg(feature = "sqs")]
mod sqs {
    use aws_sdk_sqs::operation::{
        change_message_visibility::ChangeMessageVisibilityInput,
        delete_message::DeleteMessageInput, delete_message_batch::DeleteMessageBatchInput,
        delete_queue::DeleteQueueInput, get_queue_attributes::GetQueueAttributesInput,
        purge_queue::PurgeQueueInput, receive_message::ReceiveMessageInput,
        send_message::SendMessageInput, send_message_batch::SendMessageBatchInput,
        set_queue_attributes::SetQueueAttributesInput,
    };
    use opentelemetry::KeyValue;
    use opentelemetry_semantic_conventions::attribute::{
        AWS_SQS_QUEUE_URL, MESSAGING_DESTINATION_NAME, MESSAGING_OPERATION_TYPE, MESSAGING_SYSTEM,
    };

    use super::Input;

    pub(super) fn input(input: &Input) -> Vec<KeyValue> {
        let url = first_of!(
            input,
            [
                SendMessageInput,
                SendMessageBatchInput,
                ReceiveMessageInput,
                DeleteMessageInput,
                DeleteMessageBatchInput,
                ChangeMessageVisibilityInput,
                GetQueueAttributesInput,
                SetQueueAttributesInput,
                PurgeQueueInput,
                DeleteQueueInput
            ],
            |i| i.queue_url().map(str::to_owned)
        );
        let Some(url) = url.flatten() else {
            return Vec::new();
        };
        let mut attributes = vec![
            KeyValue::new(MESSAGING_SYSTEM, "aws_sqs"),
            KeyValue::new(
                MESSAGING_DESTINATION_NAME,
                crate::aws_sdk::sqs::queue_name(&url).to_owned(),
            ),
            KeyValue::new(AWS_SQS_QUEUE_URL, url),
        ];
        let operation = if input.downcast_ref::<SendMessageInput>().is_some()
            || input.downcast_ref::<SendMessageBatchInput>().is_some()
        {
            Some("send")
        } else if input.downcast_ref::<ReceiveMessageInput>().is_some() {
            Some("receive")
        } else {
            None
        };
        if let Some(operation) = operation {
            attributes.push(KeyValue::new(MESSAGING_OPERATION_TYPE, operation));
        }
        attributes
    }
}
