//! An SQS-triggered worker that stores each order in DynamoDB.
//!
//! It consumes the queue `examples/lambda-orders-api` sends to. Per batch, one CONSUMER span
//! `<queue> process` linked to the producer of every message; per message, a CONSUMER span
//! linked to its producer, and inside it the `DynamoDB.PutItem` CLIENT span
//! (`aws.dynamodb.table_names`, consumed capacity) from the `AwsSdkTracing` interceptor.
//! A message that is not an order, or an order without items, fails alone: it is returned
//! in `batchItemFailures`, so SQS retries only it, and its span is an ERROR.

use anyhow::Context as _;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity};
use lambda_runtime::{LambdaEvent, service_fn};
use otel_faas_aws::{LambdaTelemetry, SqsTrigger};
use otel_faas_messaging::aws_sdk::{AwsSdkTracing, sdk_config};
use serde::Deserialize;
use tower::Layer;

/// An order as `lambda-orders-api` queues it.
#[derive(Debug, Deserialize)]
struct Order {
    id: u64,
    items: u32,
}

#[derive(Clone)]
struct Store {
    dynamodb: aws_sdk_dynamodb::Client,
    table: String,
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    // The subscriber (OTel layer + log lines), the after-response extension when
    // OTEL_FAAS_FLUSH=after-response, and the SIGTERM flush.
    let otel = LambdaTelemetry::start().await?;

    let table =
        std::env::var("ORDERS_TABLE").map_err(|_| "set ORDERS_TABLE to the orders table's name")?;
    // Credentials and region come from the Lambda environment; AWS_ENDPOINT_URL, when set,
    // points the SDK elsewhere (an emulator, or the demo's stand-in).
    let config = sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&config)
            .interceptor(AwsSdkTracing::new())
            .build(),
    );
    let store = Store { dynamodb, table };

    let handler = otel.layer(SqsTrigger::from_env()).layer(service_fn(
        move |event: LambdaEvent<SqsEvent>| {
            let store = store.clone();
            async move { handler(event, store).await }
        },
    ));
    lambda_runtime::run_concurrent(handler).await
}

async fn handler(
    event: LambdaEvent<SqsEvent>,
    store: Store,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    Ok(
        otel_faas_aws::batch::process_sqs_batch(&event.payload, async move |message| {
            save(&store, message).await
        })
        .await,
    )
}

/// An order without items. Returned inside an `anyhow::Error`, it is still the message
/// span's `error.type` (`EmptyOrder`): otel-faas reads the type behind the container.
#[derive(Debug)]
struct EmptyOrder {
    order: u64,
}

impl std::fmt::Display for EmptyOrder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "order {} has no items", self.order)
    }
}

impl std::error::Error for EmptyOrder {}

#[tracing::instrument(skip_all, fields(message_id = message.message_id.as_deref().unwrap_or_default()))]
async fn save(store: &Store, message: &SqsMessage) -> anyhow::Result<()> {
    let body = message.body.as_deref().unwrap_or_default();
    let order: Order = serde_json::from_str(body).context("the message is not an order")?;
    if order.items == 0 {
        return Err(EmptyOrder { order: order.id }.into());
    }
    store
        .dynamodb
        .put_item()
        .table_name(&store.table)
        .item("id", AttributeValue::N(order.id.to_string()))
        .item("items", AttributeValue::N(order.items.to_string()))
        .return_consumed_capacity(ReturnConsumedCapacity::Total)
        .send()
        .await
        .map_err(|error| {
            let error = aws_sdk_dynamodb::error::DisplayErrorContext(error);
            anyhow::anyhow!("storing order {}: {error}", order.id)
        })?;
    tracing::info!(order = order.id, "order stored");
    Ok(())
}
