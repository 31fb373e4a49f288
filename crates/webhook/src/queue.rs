//! Accepted entry events wait here for the worker: an SQS FIFO queue (one message group per entry, so
//! one entry is processed in order), or, for benchmarks, an in-process queue behind the same interface.

use std::collections::VecDeque;
use std::sync::Mutex;

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// What the worker needs to package one entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackagingRequest {
    pub entry_id: String,
    pub event_type: String,
    pub event_id: Option<String>,
    pub event_time: Option<String>,
    pub canvas_id: Option<String>,
}

/// A request taken from the queue, to be deleted once done.
#[derive(Debug)]
pub struct Received {
    pub request: PackagingRequest,
    pub receipt: String,
    pub receive_count: u32,
}

/// Selects the in-process queue instead of SQS.
pub const MEMORY_URL: &str = "memory://";
/// The in-process queue keeps the newest requests only: it exists to measure accepting, not to hold work.
const MEMORY_CAPACITY: usize = 1024;

pub enum Queue {
    Sqs {
        client: aws_sdk_sqs::Client,
        url: String,
    },
    Memory(Mutex<VecDeque<PackagingRequest>>),
}

impl Queue {
    pub fn new(client: aws_sdk_sqs::Client, url: &str) -> Self {
        if url == MEMORY_URL {
            Queue::Memory(Mutex::new(VecDeque::new()))
        } else {
            Queue::Sqs {
                client,
                url: url.to_owned(),
            }
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Queue::Sqs { url, .. } => url.clone(),
            Queue::Memory(_) => {
                "an in-process queue (benchmarks only: requests are not durable)".into()
            }
        }
    }

    pub async fn send(&self, request: &PackagingRequest) -> anyhow::Result<()> {
        match self {
            Queue::Memory(queue) => {
                let mut queue = queue.lock().expect("queue lock");
                if queue.len() == MEMORY_CAPACITY {
                    queue.pop_front();
                }
                queue.push_back(request.clone());
                Ok(())
            }
            Queue::Sqs { client, url } => {
                let body = serde_json::to_string(request)?;
                let mut send = client.send_message().queue_url(url).message_body(body);
                if url.ends_with(".fifo") {
                    send = send
                        .message_group_id(&request.entry_id)
                        .message_deduplication_id(dedup_id(request));
                }
                send.send()
                    .await
                    .map(drop)
                    .map_err(|err| {
                        anyhow::anyhow!("{}", aws_sdk_sqs::error::DisplayErrorContext(err))
                    })
                    .context("queueing the packaging request")
            }
        }
    }

    /// Up to `max` requests, waiting up to `wait` for the first.
    pub async fn receive(
        &self,
        max: i32,
        wait: std::time::Duration,
    ) -> anyhow::Result<Vec<Received>> {
        match self {
            Queue::Memory(queue) => {
                let taken: Vec<_> = {
                    let mut queue = queue.lock().expect("queue lock");
                    let n = queue.len().min(max as usize);
                    queue.drain(..n).collect()
                };
                if taken.is_empty() {
                    tokio::time::sleep(wait.min(std::time::Duration::from_millis(200))).await;
                }
                Ok(taken
                    .into_iter()
                    .map(|request| Received {
                        request,
                        receipt: String::new(),
                        receive_count: 1,
                    })
                    .collect())
            }
            Queue::Sqs { client, url } => {
                let answer = client
                    .receive_message()
                    .queue_url(url)
                    .max_number_of_messages(max)
                    .wait_time_seconds(wait.as_secs() as i32)
                    .message_system_attribute_names(
                        aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
                    )
                    .send()
                    .await
                    .map_err(|err| {
                        anyhow::anyhow!("{}", aws_sdk_sqs::error::DisplayErrorContext(err))
                    })
                    .context("receiving packaging requests")?;
                let mut received = Vec::new();
                for message in answer.messages() {
                    let (Some(body), Some(receipt)) = (message.body(), message.receipt_handle())
                    else {
                        continue;
                    };
                    let receive_count = message
                        .attributes()
                        .and_then(|a| a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount))
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(1);
                    match serde_json::from_str(body) {
                        Ok(request) => received.push(Received {
                            request,
                            receipt: receipt.to_owned(),
                            receive_count,
                        }),
                        // Not ours to understand: visible again at once, so its receives run out quickly and
                        // the redrive policy moves it to the dead-letter queue.
                        Err(err) => {
                            tracing::error!(error = %err, receives = receive_count, "a message that is not a packaging request; sending it on to the dead-letter queue");
                            let _ = client
                                .change_message_visibility()
                                .queue_url(url)
                                .receipt_handle(receipt)
                                .visibility_timeout(0)
                                .send()
                                .await;
                        }
                    }
                }
                Ok(received)
            }
        }
    }

    pub async fn delete(&self, received: &Received) -> anyhow::Result<()> {
        match self {
            Queue::Memory(_) => Ok(()),
            Queue::Sqs { client, url } => client
                .delete_message()
                .queue_url(url)
                .receipt_handle(&received.receipt)
                .send()
                .await
                .map(drop)
                .map_err(|err| anyhow::anyhow!("{}", aws_sdk_sqs::error::DisplayErrorContext(err)))
                .context("deleting a finished packaging request"),
        }
    }

    /// Makes a failed request visible again after `delay` (its retry backoff).
    pub async fn retry_later(
        &self,
        received: &Received,
        delay: std::time::Duration,
    ) -> anyhow::Result<()> {
        match self {
            Queue::Memory(queue) => {
                queue
                    .lock()
                    .expect("queue lock")
                    .push_back(received.request.clone());
                Ok(())
            }
            Queue::Sqs { client, url } => client
                .change_message_visibility()
                .queue_url(url)
                .receipt_handle(&received.receipt)
                .visibility_timeout(delay.as_secs() as i32)
                .send()
                .await
                .map(drop)
                .map_err(|err| anyhow::anyhow!("{}", aws_sdk_sqs::error::DisplayErrorContext(err)))
                .context("delaying a failed packaging request"),
        }
    }
}

/// The FIFO deduplication id: one per Benchling event, so its redeliveries collapse into one message;
/// an event without an id (a button click) is never a duplicate.
fn dedup_id(request: &PackagingRequest) -> String {
    static UNIQUE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let raw = match &request.event_id {
        Some(event_id) => format!("{event_id}-{}", request.event_type),
        None => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            format!(
                "{}-{nanos}-{}",
                request.entry_id,
                UNIQUE.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            )
        }
    };
    // At most 128 characters of letters, digits and `-_.`.
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(128)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(event_id: Option<&str>) -> PackagingRequest {
        PackagingRequest {
            entry_id: "etr_1".into(),
            event_type: "v2.entry.created".into(),
            event_id: event_id.map(str::to_owned),
            event_time: None,
            canvas_id: None,
        }
    }

    #[test]
    fn redeliveries_of_one_event_share_a_dedup_id_and_clicks_never_do() {
        assert_eq!(
            dedup_id(&request(Some("evt_1"))),
            dedup_id(&request(Some("evt_1")))
        );
        assert_eq!(dedup_id(&request(Some("evt_1"))), "evt_1-v2.entry.created");
        assert_ne!(dedup_id(&request(None)), dedup_id(&request(None)));
    }
}
